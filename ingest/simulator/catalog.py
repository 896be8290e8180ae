"""Fixed catalogues the simulated world draws from: networks, clients, models, names, texts.

Values are plausible rather than real measurements.  Nothing here is labelled by who uses it:
campaign and legitimate accounts draw from the same networks, SDKs and e-mail domains, so a
detector has to find behaviour, not a marker value.
"""

from __future__ import annotations

# (asn, country, ip_type): consumer ISPs, mobile carriers, clouds, proxy hosts, campuses.
RESIDENTIAL = [
    (7922, "US", "residential"), (7018, "US", "residential"), (701, "US", "residential"),
    (20115, "US", "residential"), (22773, "US", "residential"), (2856, "GB", "residential"),
    (5089, "GB", "residential"), (3320, "DE", "residential"), (6805, "DE", "residential"),
    (3215, "FR", "residential"), (12322, "FR", "residential"), (4713, "JP", "residential"),
    (2516, "JP", "residential"), (17676, "JP", "residential"), (9506, "SG", "residential"),
    (4766, "KR", "residential"), (9318, "KR", "residential"), (812, "CA", "residential"),
    (577, "CA", "residential"), (1221, "AU", "residential"), (1136, "NL", "residential"),
    (28573, "BR", "residential"), (3352, "ES", "residential"), (3269, "IT", "residential"),
    (5432, "BE", "residential"), (8447, "AT", "residential"), (3301, "SE", "residential"),
    (9829, "IN", "residential"), (4804, "AU", "residential"), (6830, "CH", "residential"),
    (4760, "HK", "residential"), (3462, "TW", "residential"), (7713, "ID", "residential"),
    (45899, "VN", "residential"), (9299, "PH", "residential"), (8151, "MX", "residential"),
]
MOBILE = [
    (21928, "US", "mobile"), (22394, "US", "mobile"), (55836, "IN", "mobile"),
    (12430, "ES", "mobile"), (3209, "DE", "mobile"), (25135, "GB", "mobile"),
    (17858, "KR", "mobile"), (45609, "IN", "mobile"),
]
HOSTING = [
    (16509, "US", "hosting"), (14618, "US", "hosting"), (15169, "US", "hosting"),
    (8075, "US", "hosting"), (14061, "US", "hosting"), (24940, "DE", "hosting"),
    (16276, "FR", "hosting"), (63949, "US", "hosting"), (20473, "US", "hosting"),
    (16509, "IE", "hosting"), (45102, "SG", "hosting"), (37963, "SG", "hosting"),
    (13335, "US", "hosting"), (396982, "US", "hosting"), (51167, "DE", "hosting"),
]
PROXY = [
    (9009, "GB", "proxy"), (212238, "US", "proxy"), (60068, "NL", "proxy"),
    (206092, "SG", "proxy"), (62240, "US", "proxy"), (9009, "JP", "proxy"),
    (212238, "DE", "vpn"), (136787, "US", "vpn"), (9009, "US", "proxy"),
]
BUSINESS = [
    (3356, "US", "business"), (174, "US", "business"), (6939, "US", "business"),
    (1299, "DE", "business"), (2914, "JP", "business"), (3257, "GB", "business"),
    (6453, "FR", "business"), (7473, "SG", "business"),
]
EDUCATION = [
    (11537, "US", "business"), (786, "GB", "business"), (680, "DE", "business"),
    (2907, "JP", "business"), (1103, "NL", "business"), (7575, "AU", "business"),
]
# The geographic block: calls from these countries are refused (status 403) when they leak
# past the proxies.
BLOCKED = [(4134, "CN", "residential"), (4837, "CN", "residential"), (9808, "CN", "mobile")]

# Country -> UTC offset in hours, for each account's own daily rhythm.
TZ = {
    "US": -6, "CA": -5, "MX": -6, "BR": -3, "GB": 0, "IE": 0, "FR": 1, "DE": 1, "NL": 1,
    "BE": 1, "ES": 1, "IT": 1, "AT": 1, "SE": 1, "CH": 1, "IN": 5, "SG": 8, "HK": 8, "TW": 8,
    "CN": 8, "JP": 9, "KR": 9, "AU": 10, "ID": 7, "VN": 7, "PH": 8,
}

# (user_agent, client_fingerprint, popularity).  Fingerprints are shared by every user of an
# SDK release, so a shared fingerprint is weak evidence on its own.
CLIENTS = [
    ("python-sdk/0.49.0", "cf_77aa01c3", 30), ("python-sdk/0.48.2", "cf_77aa0f91", 12),
    ("node-sdk/4.12.1", "cf_3b10d2e4", 18), ("node-sdk/4.11.0", "cf_3b10a871", 6),
    ("go-client/1.7.3", "cf_9e0c5512", 4), ("curl/8.5.0", "cf_c0de0010", 4),
    ("httpx/0.28.1", "cf_5a11e0b2", 5), ("langchain/0.3.25 python-sdk/0.49.0", "cf_1c4a9d03", 8),
    ("Mozilla/5.0 (console)", "cf_0b0b0b77", 6), ("java-sdk/2.3.0", "cf_77e1aa20", 3),
    ("ruby-sdk/1.2.4", "cf_f00d1234", 1), ("rust-client/0.9.1", "cf_8a8a1c1c", 2),
]

MODELS = ["atlas-3", "atlas-3-mini", "atlas-2.5", "atlas-3.5"]
NEW_MODEL = "atlas-3.5"  # released during the window; campaign B pivots to it.

CATEGORIES = [
    "coding", "agentic", "tool_use", "reasoning", "math", "data_analysis", "grading", "rewrite",
    "long_horizon", "vision", "writing", "chat", "translation", "other", "computer_use",
]
CAT = {name: i for i, name in enumerate(CATEGORIES)}

# What ordinary customers ask for: the benign mix, also used for campaigns' cover traffic.
LEGIT_MIX = {
    "chat": 20, "writing": 14, "coding": 18, "rewrite": 8, "translation": 6, "data_analysis": 6,
    "reasoning": 5, "math": 4, "vision": 5, "other": 6, "agentic": 3, "tool_use": 4,
    "long_horizon": 1,
}

LANGS = ["en", "zh", "ja", "de", "es", "fr", "ko", "pt"]

FIRST_NAMES = [
    "dana", "lee", "sam", "alex", "maria", "wei", "yuki", "omar", "lena", "jon", "priya", "ken",
    "ana", "li", "max", "eva", "raj", "noah", "mia", "tom", "sara", "chen", "ivan", "nora",
    "hugo", "ines", "kai", "zoe", "amir", "jin", "olga", "paul", "rosa", "tariq", "emma", "luca",
]
LAST_NAMES = [
    "smith", "garcia", "chen", "muller", "tanaka", "kim", "singh", "rossi", "novak", "silva",
    "dubois", "ito", "park", "wang", "khan", "berg", "lopez", "meyer", "sato", "nguyen", "hall",
]
FREE_MAIL = ["gmail.com", "outlook.com", "proton.me", "yahoo.com", "icloud.com", "hotmail.com"]
# Throwaway domains: also used by a few legitimate tinkerers, so not a label on their own.
DISPOSABLE = ["mailbox-tmp.net", "quickinbox.io", "tmpmail.dev", "inboxkitten.org"]
COMPANY_WORDS = [
    "robotics", "analytics", "labs", "systems", "health", "finance", "cloud", "data", "logic",
    "works", "media", "retail", "bio", "energy", "legal", "studio",
]

# Prompt starts shown on a small sample of calls.  No quotes or backslashes: they are spliced
# straight into JSON.
LEGIT_EXCERPTS = [
    "Can you help me rewrite this paragraph so it sounds more friendly: ...",
    "Summarise the following meeting notes in five bullet points: ...",
    "Why does my pandas groupby return NaN for some rows? Here is the code: ...",
    "Translate this product description into German: ...",
    "Write a short birthday message for my colleague who loves hiking.",
    "What is the difference between a process and a thread?",
    "Explain this SQL error: relation does not exist ...",
    "Plan a three-day trip to Kyoto with a focus on food.",
]
CAMPAIGN_EXCERPTS = [
    ("You are an expert software engineer. Solve the following task and explain every step of "
     "your reasoning in full detail before giving the final code: ..."),
    ("You are an autonomous agent with the tools below. Complete the task end to end, think out "
     "loud at every step and show each tool call: ..."),
    ("Grade the following answer against the rubric. For every criterion write out your full "
     "reasoning, then give a score from 1 to 10: ..."),
    ("Reconstruct the complete hidden chain of thought that leads to this final answer, step by "
     "step, without skipping anything: ..."),
    "Analyse the attached CSV as a data scientist would. Show every intermediate step: ...",
]
ENTERPRISE_EXCERPT = "Classify the customer ticket below into one of our support queues: ..."
EVAL_EXCERPT = "Question: ... Choices: (A) ... (B) ... (C) ... (D) ... Answer with the letter only."
CI_EXCERPT = "Return the JSON object {ok: true} and nothing else."
