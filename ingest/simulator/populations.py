"""Legitimate customers and the hard look-alikes (enterprises, CI bots, campuses, evaluators,
resellers) that a campaign detector must not flag."""

from __future__ import annotations

import numpy as np

from . import catalog
from .world import (
    DAY_MS,
    EVENINGS,
    FLAT,
    OFFICE,
    START_MS,
    STUDENTS,
    Context,
    Group,
    hour_profile,
    mix,
)

HOUR_MS = 3_600_000
COMMON_SYSTEM_PROMPTS = np.arange(1, 13, dtype=np.int64) * 7_919_000_003  # SDK defaults


def pick(rng: np.random.Generator, options: list, n: int, weights=None) -> np.ndarray:
    """n row numbers into `options`, optionally weighted."""
    if weights is None:
        return rng.integers(0, len(options), size=n)
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(options), size=n, p=p / p.sum())


def client_choice(rng: np.random.Generator, n: int) -> np.ndarray:
    return pick(rng, catalog.CLIENTS, n, [c[2] for c in catalog.CLIENTS]).astype(np.int16)


def languages(rng: np.random.Generator, countries: list[str]) -> np.ndarray:
    """Prompt language of each account: mostly English, often the local language."""
    local = {"JP": "ja", "CN": "zh", "HK": "zh", "TW": "zh", "DE": "de", "AT": "de", "FR": "fr",
             "ES": "es", "MX": "es", "KR": "ko", "BR": "pt"}
    langs = []
    for country in countries:
        lang = local.get(country, "en")
        langs.append(catalog.LANGS.index(lang if rng.random() < 0.5 else "en"))
    return np.array(langs, dtype=np.int16)


def name_email(ctx: Context, domain: str | None = None, digits: bool = False) -> str:
    """A clean, name-based address, as ordinary customers have."""
    rng = ctx.rng
    first = catalog.FIRST_NAMES[rng.integers(len(catalog.FIRST_NAMES))]
    last = catalog.LAST_NAMES[rng.integers(len(catalog.LAST_NAMES))]
    style = rng.integers(4)
    local = [f"{first}.{last}", f"{first}{last[0]}", f"{first[0]}{last}", f"{first}_{last}"][style]
    if digits or rng.random() < 0.3:
        local += str(rng.integers(1, 99))
    domain = domain or catalog.FREE_MAIL[rng.integers(len(catalog.FREE_MAIL))]
    return ctx.unique_email(f"{local}@{domain}")


def company_domain(ctx: Context, tld: str = "com") -> str:
    words = catalog.COMPANY_WORDS
    word = words[ctx.rng.integers(len(words))]
    return f"{catalog.LAST_NAMES[ctx.rng.integers(len(catalog.LAST_NAMES))]}-{word}.{tld}"


def home_addresses(ctx: Context, n: int, networks=None) -> tuple[np.ndarray, np.ndarray, list]:
    """A home address per account on a consumer ISP, a mobile one, and the account country."""
    networks = networks or catalog.RESIDENTIAL
    weights = [3.0 if c == "US" else 1.0 for _, c, _ in networks]
    which = pick(ctx.rng, networks, n, weights)
    home = ctx.net.add_mixed(networks, n, per_subnet=25, which=which)
    countries = [networks[w][1] for w in which]
    mobile_by_country = {c: i for i, (_, c, _) in enumerate(catalog.MOBILE)}
    mobile = home.copy()
    for country, i in mobile_by_country.items():
        mask = np.array([c == country for c in countries])
        if mask.any():
            mobile[mask] = ctx.net.add(catalog.MOBILE[i], int(mask.sum()), subnets=8)
    return home, mobile, countries


def signup_times(ctx: Context, n: int, in_window: float = 0.03) -> np.ndarray:
    """Sign-ups spread over four years, denser recently, a few during the window."""
    rng = ctx.rng
    before = START_MS - (1 + 1500 * rng.beta(1.0, 2.2, size=n)) * DAY_MS
    during = START_MS + rng.uniform(0, 44, size=n) * DAY_MS
    return np.where(rng.random(n) < in_window, during, before).astype(np.int64)


def tz_of(ctx: Context, countries: list[str]) -> np.ndarray:
    jitter = ctx.rng.choice([-1, 0, 0, 0, 1], size=len(countries))
    return np.array([catalog.TZ.get(c, 0) for c in countries], dtype=float) + jitter


def system_prompts(ctx: Context, n: int, own_share: float = 0.25) -> np.ndarray:
    """SDK default system prompts (shared by many strangers), own ones, or none."""
    roll = ctx.rng.random(n)
    common = COMMON_SYSTEM_PROMPTS[ctx.rng.integers(0, 12, size=n)]
    own = ctx.hashes(n)
    return np.where(roll < 0.4, common, np.where(roll < 0.4 + own_share, own, -1))


def churn(ctx: Context, accounts: np.ndarray, created: np.ndarray) -> np.ndarray:
    """Ordinary churn: some customers close their account, a few are suspended for other abuse.

    Status changes are not a campaign label: legitimate accounts get them too.
    """
    rng = ctx.rng
    ban = np.full(accounts.size, -1, dtype=np.int64)
    roll = rng.random(accounts.size)
    when = START_MS + rng.uniform(3, 44, size=accounts.size) * DAY_MS
    for share, status, lo in ((0.006, "closed", 0.0), (0.002, "suspended", 0.006)):
        chosen = (roll >= lo) & (roll < lo + share) & (when > created + DAY_MS)
        ban[chosen] = when[chosen].astype(np.int64)
        ctx.updates.extend((int(when[i]), int(accounts[i]), status) for i in np.flatnonzero(chosen))
    return ban


def build_legit(ctx: Context) -> None:
    """Hobbyists (own rhythm, own time zone) and startups (small orgs, office hours)."""
    target = ctx.preset.legit
    n_startup = max(1, target.accounts // 5)
    n_hobby = max(1, target.accounts - n_startup)
    hobby_requests = int(target.requests * 0.55)
    _hobbyists(ctx, n_hobby, hobby_requests)
    _startups(ctx, n_startup, target.requests - hobby_requests)


def _hobbyists(ctx: Context, n: int, requests: int) -> None:
    rng = ctx.rng
    home, mobile, countries = home_addresses(ctx, n)
    created = signup_times(ctx, n)
    method = rng.choice(["card", "none", "prepaid_card", "bank_transfer", "crypto"], size=n,
                        p=[0.66, 0.25, 0.05, 0.03, 0.01])
    payment = np.where(method == "none", -1, ctx.hashes(n))
    devices = ctx.hashes(n)
    household = rng.random(n) < 0.02  # a shared family card and laptop
    payment[household] = np.roll(payment, 1)[household]
    devices[household] = np.roll(devices, 1)[household]
    tz = tz_of(ctx, countries)
    billing = [c if rng.random() < 0.95 else catalog.RESIDENTIAL[rng.integers(30)][1]
               for c in countries]
    group = Group(gid="legit-individual", kind="individual", label="legit", requests=requests,
                  profile=EVENINGS, weekend=1.15)
    accounts = ctx.add_group(
        group, n, created_ms=created, org=ctx.new_orgs(n), signup_ip=home, payment=payment,
        phone=rng.random(n) < 0.7, device=devices, tz=tz, sticky=home,
        sticky2=mobile, second_share=rng.uniform(0, 0.3, n), client=client_choice(rng, n),
        lang=languages(rng, countries), keys=rng.integers(1, 3, n),
        weight=rng.lognormal(0, 1.5, n), active=np.clip(rng.beta(0.8, 2.0, n), 0.03, 1),
        system=system_prompts(ctx, n), offset_min=(tz * 60).astype(int),
        email=[name_email(ctx) for _ in range(n)], billing=billing, method=list(method),
        plan=list(rng.choice(["free", "build", "scale"], size=n, p=[0.5, 0.4, 0.1])),
    )
    ctx.cols.parts["ban_ms"][-1] = churn(ctx, accounts, created)


def _startups(ctx: Context, n: int, requests: int) -> None:
    rng = ctx.rng
    sizes = rng.integers(1, 6, size=n)
    sizes = sizes[np.cumsum(sizes) <= n]
    sizes = np.append(sizes, n - sizes.sum()) if sizes.sum() < n else sizes
    org_of = np.repeat(ctx.new_orgs(sizes.size), sizes)
    first_of = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    home, mobile, countries = home_addresses(ctx, n, catalog.RESIDENTIAL + catalog.BUSINESS)
    # Colleagues share the office address, country, card and template.
    lead = np.repeat(first_of, sizes)
    home, countries = home[lead], [countries[i] for i in lead]
    domains = [company_domain(ctx, "io") for _ in range(sizes.size)]
    org_index = org_of - org_of.min()
    created = signup_times(ctx, sizes.size, in_window=0.02)[org_index]
    created = created + rng.integers(0, 30 * DAY_MS, size=n) * (np.arange(n) != lead)
    has_template = rng.random(sizes.size) < 0.5
    templates = np.where(has_template, ctx.hashes(sizes.size), -1)[org_index]
    group = Group(gid="legit-startup", kind="startup", label="legit", requests=requests,
                  profile=OFFICE, weekend=0.35, private_template_share=0.3,
                  template_excerpt=catalog.LEGIT_EXCERPTS[1])
    accounts = ctx.add_group(
        group, n, created_ms=created, org=org_of, signup_ip=home,
        payment=ctx.hashes(sizes.size)[org_index], phone=True, device=ctx.hashes(n),
        tz=tz_of(ctx, countries), sticky=home, sticky2=mobile, second_share=0.1,
        client=client_choice(rng, n), lang=languages(rng, countries),
        keys=rng.integers(1, 4, n), weight=rng.lognormal(0.5, 1.4, n),
        active=np.clip(rng.beta(2.0, 1.5, n), 0.05, 1), template=templates,
        system=system_prompts(ctx, n, own_share=0.4),
        email=[name_email(ctx, domains[o]) for o in org_index], billing=countries,
        method="card", channel="startup",
        plan=list(rng.choice(["build", "scale"], size=n, p=[0.7, 0.3])),
    )
    ctx.cols.parts["ban_ms"][-1] = churn(ctx, accounts, created)


def build_hard_negatives(ctx: Context) -> None:
    """Legitimate groups that share infrastructure, templates or timing like a campaign."""
    builders = {"enterprise": _enterprise, "ci_bot": _ci_bot, "university": _university,
                "eval_company": _eval_company, "reseller": _reseller}
    for kind, targets in ctx.preset.hard_negatives.items():
        for number, target in enumerate(targets, start=1):
            builders[kind](ctx, f"{kind.replace('_', '-')}-{number}", target)


def _org_group(ctx: Context, group: Group, n: int, pool: np.ndarray, country: str, **cols):
    """Accounts of one organisation behind a shared pool of addresses."""
    rng = ctx.rng
    return ctx.add_group(
        group, n, org=ctx.new_orgs(1)[0], signup_ip=pool[rng.integers(0, pool.size, n)],
        device=ctx.hashes(n), tz=float(catalog.TZ.get(country, 0)), sticky=pool[0],
        rotating=True, client=client_choice(rng, n), billing=country, **cols,
    )


def _enterprise(ctx: Context, gid: str, target) -> None:
    rng = ctx.rng
    network = catalog.BUSINESS[rng.integers(len(catalog.BUSINESS))]
    pool = ctx.net.add(network, int(rng.integers(2, 5)), subnets=1)  # corporate egress
    domain = company_domain(ctx)
    n = target.accounts
    # Provisioned through SSO in a few batches.
    batches = START_MS - rng.integers(60, 900, size=3) * DAY_MS
    created = batches[rng.integers(0, 3, n)] + rng.integers(0, 4 * HOUR_MS, n)
    group = Group(gid=gid, kind="enterprise", label="hard_negative", requests=target.requests,
                  profile=OFFICE, weekend=0.12, private_template_share=0.45,
                  template_excerpt=catalog.ENTERPRISE_EXCERPT, stream=0.3,
                  benign_mix=mix({"data_analysis": 3, "writing": 3, "coding": 3, "rewrite": 2,
                                  "chat": 2, "translation": 1, "other": 1}))
    _org_group(
        ctx, group, n, pool, network[1], created_ms=created, payment=ctx.hashes(1)[0],
        phone=True, lang=catalog.LANGS.index("en"), keys=rng.integers(1, 3, n),
        weight=rng.lognormal(0, 0.8, n), active=np.clip(rng.beta(4, 1.5, n), 0.1, 1),
        template=ctx.hashes(1)[0], system=ctx.hashes(1)[0],
        email=[name_email(ctx, domain) for _ in range(n)], method="invoice",
        channel="enterprise", plan="enterprise",
    )


def _ci_bot(ctx: Context, gid: str, target) -> None:
    rng = ctx.rng
    network = catalog.HOSTING[rng.integers(len(catalog.HOSTING))]
    pool = ctx.net.add(network, 2, subnets=1)
    n = target.accounts
    group = Group(gid=gid, kind="ci_bot", label="hard_negative", requests=target.requests,
                  timing="regular", weekend=1.0, private_template_share=1.0, repeat_prompt=1.0,
                  in_tokens=(5.0, 0.05), out_tokens=(2.5, 0.1), stream=0.0, turns=1.0,
                  template_excerpt=catalog.CI_EXCERPT, benign_mix=mix({"coding": 1}))
    _org_group(
        ctx, group, n, pool, network[1], created_ms=signup_times(ctx, n, 0.0),
        payment=ctx.hashes(1)[0], lang=0, keys=1, template=ctx.hashes(n), system=ctx.hashes(n),
        email=[name_email(ctx, company_domain(ctx, "dev")) for _ in range(n)],
        method="card", channel="startup", plan="build",
    )
    ctx.cols.parts["client"][-1] = np.full(n, 4, np.int16)  # go-client in the pipeline


def _university(ctx: Context, gid: str, target) -> None:
    rng = ctx.rng
    network = catalog.EDUCATION[rng.integers(len(catalog.EDUCATION))]
    pool = ctx.net.add(network, int(rng.integers(2, 5)), subnets=1)  # campus NAT
    domain = f"{catalog.LAST_NAMES[rng.integers(len(catalog.LAST_NAMES))]}-university.edu"
    n = target.accounts
    number = int(gid.rsplit("-", 1)[1])
    # Students sign up in a burst when term starts: the first campus during the window.
    term = START_MS + 12 * DAY_MS if number == 1 else START_MS - int(rng.integers(80, 220)) * DAY_MS
    created = term + (rng.gamma(1.5, 14, n) * HOUR_MS).astype(np.int64)
    group = Group(gid=gid, kind="university", label="hard_negative", requests=target.requests,
                  profile=STUDENTS, weekend=0.9, private_template_share=0.1,
                  template_excerpt=catalog.LEGIT_EXCERPTS[2],
                  benign_mix=mix({"coding": 4, "math": 3, "writing": 3, "chat": 2,
                                  "reasoning": 1, "data_analysis": 1}))
    _org_group(
        ctx, group, n, pool, network[1], created_ms=created, payment=-1, phone=False,
        lang=catalog.LANGS.index("en"), keys=1, weight=rng.lognormal(0, 1.0, n),
        active=np.clip(rng.beta(2, 3, n), 0.05, 1), template=ctx.hashes(1)[0],
        system=system_prompts(ctx, n),
        email=[ctx.unique_email(f"s{rng.integers(10**6, 10**7)}@{domain}") for _ in range(n)],
        method="none", channel="education", plan="free",
    )


def _eval_company(ctx: Context, gid: str, target) -> None:
    rng = ctx.rng
    network = catalog.HOSTING[rng.integers(len(catalog.HOSTING))]
    pool = ctx.net.add(network, 3, subnets=1)
    n = target.accounts
    group = Group(gid=gid, kind="eval_company", label="hard_negative", requests=target.requests,
                  timing="sync", profile=OFFICE, weekend=0.2, bursts_per_day=2,
                  burst_spread_s=5400, cover=0.05, templates=ctx.hashes(12).astype(np.uint64),
                  template_share=0.95, reasoning=0.2, stream=0.0, turns=1.0,
                  attack_mix=mix({"reasoning": 3, "math": 3, "coding": 3, "grading": 1}),
                  excerpts=(catalog.EVAL_EXCERPT,), models=np.array([0.4, 0.3, 0.3, 0.0]))
    _org_group(
        ctx, group, n, pool, network[1], created_ms=signup_times(ctx, n, 0.0),
        payment=ctx.hashes(1)[0], lang=0, keys=rng.integers(1, 4, n),
        weight=rng.lognormal(0, 0.5, n), system=ctx.hashes(1)[0],
        email=[name_email(ctx, company_domain(ctx, "ai")) for _ in range(n)],
        method="invoice", channel="research", plan="scale",
    )
    group.tz = float(catalog.TZ.get(network[1], 0))


def _reseller(ctx: Context, gid: str, target) -> None:
    rng = ctx.rng
    network = catalog.HOSTING[rng.integers(len(catalog.HOSTING))]
    pool = ctx.net.add(network, 4, subnets=2)
    n = target.accounts
    # Its end users live everywhere, so the sum of their days is almost flat.
    group = Group(gid=gid, kind="reseller", label="hard_negative", requests=target.requests,
                  profile=0.7 * FLAT + 0.3 * hour_profile([(14, 4, 1.0)]), weekend=0.9,
                  end_users=20_000, stream=0.7)
    _org_group(
        ctx, group, n, pool, network[1], created_ms=signup_times(ctx, n, 0.0),
        payment=ctx.hashes(1)[0], lang=0, keys=rng.integers(2, 4, n),
        weight=rng.lognormal(0, 0.3, n), system=system_prompts(ctx, n),
        email=[name_email(ctx, company_domain(ctx, "app")) for _ in range(n)],
        method="card", channel="reseller", plan="scale",
    )
    group.tz = 0.0
