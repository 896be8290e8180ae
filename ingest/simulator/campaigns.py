"""The planted distillation campaigns, modelled on the four in DESIGN.md plus two hard ones.

Each campaign mixes tactics rather than carrying one tell: accounts are created in *cells*
(batches made together by one operator script), and each cell picks its own e-mail style,
payment scheme, device reuse and proxy habits.  Ban waves suspend part of a campaign and a
burst of replacement sign-ups follows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import catalog
from .populations import COMMON_SYSTEM_PROMPTS, client_choice, name_email, pick
from .world import DAY_MS, FLAT, OFFICE, START_MS, Context, Group, hour_profile, mix

HOUR_MS = 3_600_000
ALLOWED = [n for n in catalog.RESIDENTIAL if n[1] not in ("HK",)]
WORDS = ["dev", "code", "build", "agent", "data", "lab", "ai", "ml", "task", "byte", "stack"]


@dataclass
class Cohort:
    """Accounts of a campaign as created: sign-up and ban times, and the cell of each."""

    created: np.ndarray
    banned: np.ndarray
    cell: np.ndarray


def cohort(ctx: Context, n: int, waves: list[int], ban_share: float, cell_size: int) -> Cohort:
    """Sign-ups in cells before the window, then ban waves each followed by replacements.

    The first cohort is sized so that originals plus replacements come to exactly `n`.
    """
    rng = ctx.rng
    n0 = max(1, min(n, round(n / (1 + len(waves) * ban_share * 0.9))))
    created, banned, cells = [], [], []

    def sign_up(count: int, start_ms: float) -> None:
        """`count` accounts in cells, each cell a burst of sign-ups minutes apart."""
        made = 0
        while made < count:
            size = int(min(count - made, max(1, rng.integers(cell_size // 2, cell_size * 3 // 2 + 1))))
            t0 = start_ms + rng.uniform(0, 18) * HOUR_MS
            created.extend((t0 + np.cumsum(rng.exponential(6 * 60_000, size))).tolist())
            banned.extend([-1] * size)
            cells.extend([len(set(cells))] * size)
            made += size

    for _ in range(3):  # a few pre-window sign-up bursts
        sign_up(n0 // 3 + (1 if _ < n0 % 3 else 0), START_MS - rng.integers(4, 35) * DAY_MS)
    for index, day in enumerate(waves):
        wave_ms = START_MS + day * DAY_MS
        created_arr = np.array(created)
        alive = np.flatnonzero((np.array(banned) < 0) & (created_arr < wave_ms - DAY_MS))
        remaining = n - len(created)
        hit = min(alive.size, round(alive.size * ban_share))
        if index == len(waves) - 1:
            hit = min(alive.size, max(hit, remaining))
        for i in rng.choice(alive, size=hit, replace=False):
            banned[i] = int(wave_ms + rng.uniform(1, 6) * HOUR_MS)
        replace = remaining if index == len(waves) - 1 else min(remaining, hit)
        if replace > 0:
            sign_up(replace, wave_ms + 6 * HOUR_MS)
    if len(created) < n:  # no waves: everyone signs up before the window
        sign_up(n - len(created), START_MS - 3 * DAY_MS)
    return Cohort(np.array(created[:n], dtype=np.int64), np.array(banned[:n], dtype=np.int64),
                  np.array(cells[:n], dtype=np.int64))


def per_cell(rng: np.random.Generator, cells: np.ndarray, share: float) -> np.ndarray:
    """A yes/no decided once per cell (a cell uses a tactic or not)."""
    return (rng.random(cells.max() + 1) < share)[cells]


def cell_emails(ctx: Context, cells: np.ndarray, patterned_share: float) -> list[str]:
    """Patterned addresses (word + running number on a throwaway domain) or clean ones."""
    rng = ctx.rng
    patterned = per_cell(rng, cells, patterned_share)
    stems = {c: (WORDS[rng.integers(len(WORDS))] + WORDS[rng.integers(len(WORDS))],
                 catalog.DISPOSABLE[rng.integers(len(catalog.DISPOSABLE))]
                 if rng.random() < 0.7 else catalog.FREE_MAIL[rng.integers(len(catalog.FREE_MAIL))],
                 int(rng.integers(100, 9000)))
             for c in np.unique(cells[patterned])}
    out = []
    for i, cell in enumerate(cells):
        if patterned[i]:
            stem, domain, start = stems[cell]
            out.append(ctx.unique_email(f"{stem}{start + i}@{domain}"))
        else:
            out.append(name_email(ctx))
    return out


def cell_payments(ctx: Context, cells: np.ndarray, shared_share: float, group_size: int):
    """Shared prepaid cards in small groups inside a cell, or a distinct card per account."""
    rng = ctx.rng
    n = cells.size
    shared = per_cell(rng, cells, shared_share)
    distinct = ctx.hashes(n)
    card_slot = (np.arange(n) // max(1, group_size)) * 1_000_003 + 17
    shared_cards = np.int64(ctx.hashes(1)[0]) ^ card_slot
    payment = np.where(shared, shared_cards, distinct)
    method = np.where(shared, "prepaid_card",
                      rng.choice(["card", "prepaid_card"], size=n, p=[0.55, 0.45]))
    return payment, list(method)


def cell_devices(ctx: Context, cells: np.ndarray, reuse_share: float) -> np.ndarray:
    """Anti-detect browser profiles reused across a cell, or a fresh device per account."""
    rng = ctx.rng
    reuse = per_cell(rng, cells, reuse_share)
    profile = ctx.hashes(cells.max() + 1)[cells] ^ rng.integers(0, 3, cells.size)
    return np.where(reuse, profile, ctx.hashes(cells.size))


def proxy_pool(ctx: Context, size: int, shares: dict[str, float], per_subnet: int) -> np.ndarray:
    """A rotating pool labelled as a real IP feed would: mostly residential, not all 'proxy'."""
    families = {"residential": ALLOWED, "mobile": catalog.MOBILE, "hosting": catalog.HOSTING,
                "proxy": catalog.PROXY}
    rows = [ctx.net.add_mixed(families[k], max(1, round(size * s)), per_subnet=per_subnet)
            for k, s in shares.items()]
    return np.concatenate(rows)


def register_bans(ctx: Context, accounts: np.ndarray, banned: np.ndarray) -> None:
    for i in np.flatnonzero(banned >= 0):
        ctx.updates.append((int(banned[i]), int(accounts[i]), "suspended"))


def _accounts(ctx: Context, group: Group, co: Cohort, *, pool: np.ndarray, rotating: np.ndarray,
              sticky: np.ndarray, emails: list[str], payment, method, devices, billing,
              weight_shape: float = 4.0, **cols) -> np.ndarray:
    rng = ctx.rng
    n = co.created.size
    signup = np.where(rotating, pool[rng.integers(0, pool.size, n)], sticky)
    clients = client_choice(rng, int(co.cell.max()) + 1)[co.cell]
    accounts = ctx.add_group(
        group, n, created_ms=co.created, ban_ms=co.banned, org=ctx.new_orgs(n),
        signup_ip=signup, payment=payment, device=devices, sticky=sticky, rotating=rotating,
        client=clients, keys=rng.integers(1, 3, n), weight=rng.gamma(weight_shape, 1, n),
        email=emails, method=method, billing=billing, **cols,
    )
    register_bans(ctx, accounts, co.banned)
    return accounts


def _templates(ctx: Context, n: int) -> np.ndarray:
    return ctx.hashes(n).astype(np.uint64)


def build_campaigns(ctx: Context) -> None:
    builders = {"A": _a, "B": _b, "C": _c, "D": _d, "E": _e, "F": _f}
    for letter, target in ctx.preset.campaigns.items():
        builders[letter](ctx, target)


def _a(ctx: Context, target) -> None:
    """A: a hydra of thousands of accounts behind residential proxies around a geographic block."""
    rng = ctx.rng
    n = target.accounts
    co = cohort(ctx, n, waves=[8, 16, 24, 32, 40], ban_share=0.18, cell_size=60)
    # A commercial residential-proxy pool: thousands of exits, a few per /24.
    pool = proxy_pool(ctx, max(2_000, 2 * n), {"residential": 0.55, "mobile": 0.1,
                                               "hosting": 0.2, "proxy": 0.15}, per_subnet=4)
    rotating = per_cell(rng, co.cell, 0.7)
    sticky = pool[rng.integers(0, pool.size, n)]
    payment, method = cell_payments(ctx, co.cell, 0.5, int(rng.integers(5, 16)))
    billing_by_cell = rng.choice(["HK", "SG", "US", "GB", "JP", "MO"], size=co.cell.max() + 1,
                                 p=[0.3, 0.2, 0.3, 0.08, 0.08, 0.04])
    systems = np.concatenate([COMMON_SYSTEM_PROMPTS[:3], ctx.hashes(4)])
    group = Group(
        gid="A", kind="A", label="campaign", requests=target.requests,
        description="Hydra cluster of fraudulent accounts behind residential proxies in allowed "
                    "countries, evading a geographic block; software engineering and agentic "
                    "long tasks; flat 24-hour timing; ban waves answered by sign-up bursts.",
        tactics=("residential_proxy_rotation", "sticky_proxy_ips", "geo_block_evasion",
                 "billing_ip_country_mismatch", "shared_prepaid_cards", "distinct_cards",
                 "patterned_emails", "clean_emails", "device_reuse", "flat_24h_timing",
                 "ban_replacement_bursts", "template_reuse", "reasoning_elicitation",
                 "cover_traffic", "under_rate_limit"),
        timing="diurnal", profile=FLAT, tz=0.0, weekend=1.0, pool=pool,
        attack_mix=mix({"coding": 40, "agentic": 25, "long_horizon": 15, "tool_use": 10,
                        "reasoning": 10}),
        cover=0.2, templates=_templates(ctx, max(6, n // 800)), template_share=0.7,
        reasoning=0.55, models=np.array([0.9, 0.1, 0.0, 0.0]), adopts_new_model=False,
        in_tokens=(7.4, 0.7), out_tokens=(8.3, 0.6), stream=0.1, tools=(4, 25), turns=1.6,
        throttled=0.015, leak=0.002,
        excerpts=tuple(catalog.CAMPAIGN_EXCERPTS[:2]),
        leak_pool=ctx.net.add_mixed(catalog.BLOCKED, 30, per_subnet=5),
    )
    _accounts(
        ctx, group, co, pool=pool, rotating=rotating, sticky=sticky,
        emails=cell_emails(ctx, co.cell, 0.4), payment=payment, method=method,
        devices=cell_devices(ctx, co.cell, 0.3), billing=list(billing_by_cell[co.cell]),
        phone=rng.random(n) < 0.65, lang=np.where(rng.random(n) < 0.05, 1, 0),
        system=systems[rng.integers(0, systems.size, co.cell.max() + 1)][co.cell],
        plan=list(rng.choice(["build", "scale"], size=n, p=[0.8, 0.2])),
    )


def _b(ctx: Context, target) -> None:
    """B: agentic coding on sticky IPs in foreign office hours; pivots to a new model at once."""
    rng = ctx.rng
    n = target.accounts
    co = cohort(ctx, n, waves=[12, 26, 38], ban_share=0.15, cell_size=40)
    networks = [x for x in catalog.RESIDENTIAL + catalog.HOSTING if x[1] in ("SG", "JP", "US", "KR")]
    sticky = ctx.net.add_mixed(networks, n, per_subnet=3)
    billing = list(np.where(rng.random(n) < 0.5, "HK", rng.choice(["SG", "JP", "US", "KR"], n)))
    group = Group(
        gid="B", kind="B", label="campaign", requests=target.requests,
        description="Agentic coding and tool orchestration from sticky IPs during another time "
                    "zone's office hours; moved half its traffic to the newly released model "
                    "within 24 hours of release.",
        tactics=("sticky_ips", "foreign_working_hours", "distinct_cards", "clean_emails",
                 "billing_ip_country_mismatch", "template_reuse", "new_model_pivot",
                 "ban_replacement_bursts", "cover_traffic", "under_rate_limit"),
        profile=hour_profile([(11, 2.5, 1.0), (16, 2.5, 1.0), (20, 1.5, 0.5)], floor=0.01),
        tz=8.0, weekend=0.3, pool=sticky,
        attack_mix=mix({"agentic": 35, "coding": 35, "tool_use": 30}), cover=0.3,
        templates=_templates(ctx, max(5, n // 150)), template_share=0.6, reasoning=0.2,
        models=np.array([0.9, 0.1, 0.0, 0.0]), adopts_new_model=False,
        pivot_ms=ctx.release_ms + 9 * HOUR_MS, in_tokens=(7.8, 0.6), out_tokens=(7.6, 0.7),
        stream=0.2, tools=(8, 40), turns=3.0, throttled=0.01,
        excerpts=(catalog.CAMPAIGN_EXCERPTS[1],),
    )
    payment = ctx.hashes(n)
    _accounts(
        ctx, group, co, pool=sticky, rotating=np.zeros(n, bool), sticky=sticky,
        emails=[name_email(ctx) for _ in range(n)], payment=payment,
        method=list(rng.choice(["prepaid_card", "card"], size=n, p=[0.6, 0.4])),
        devices=ctx.hashes(n), billing=billing, phone=rng.random(n) < 0.8, lang=0,
        system=ctx.hashes(3)[rng.integers(0, 3, n)], weight_shape=6.0,
        plan=list(rng.choice(["build", "scale"], size=n, p=[0.5, 0.5])),
    )


def _c(ctx: Context, target) -> None:
    """C: hundreds of accounts on agentic work, then reasoning-trace reconstruction."""
    rng = ctx.rng
    n = target.accounts
    co = cohort(ctx, n, waves=[21], ban_share=0.25, cell_size=25)
    pool = proxy_pool(ctx, max(60, 3 * n), {"hosting": 0.5, "proxy": 0.3, "residential": 0.2},
                      per_subnet=4)
    payment, method = cell_payments(ctx, co.cell, 0.8, 8)
    group = Group(
        gid="C", kind="C", label="campaign", requests=target.requests,
        description="Agentic reasoning, tool use, coding, data analysis and computer use from "
                    "hosting and proxy addresses; in its later weeks turned to reconstructing "
                    "reasoning traces.",
        tactics=("proxy_rotation", "hosting_ips", "shared_prepaid_cards", "patterned_emails",
                 "flat_24h_timing", "template_reuse", "reasoning_trace_reconstruction",
                 "ban_replacement_bursts", "cover_traffic"),
        profile=FLAT, tz=0.0, weekend=1.0, pool=pool,
        attack_mix=mix({"agentic": 30, "tool_use": 20, "coding": 20, "data_analysis": 20,
                        "computer_use": 10}),
        late_day=28, late_mix=mix({"reasoning": 55, "agentic": 15, "coding": 15, "tool_use": 15}),
        late_reasoning=0.85, late_templates=_templates(ctx, max(4, n // 60)),
        cover=0.15, templates=_templates(ctx, max(4, n // 40)), template_share=0.65,
        reasoning=0.3, models=np.array([0.85, 0.15, 0.0, 0.0]), adopts_new_model=False,
        in_tokens=(7.2, 0.7), out_tokens=(7.9, 0.6), stream=0.1, tools=(5, 30), turns=2.0,
        throttled=0.01, excerpts=(catalog.CAMPAIGN_EXCERPTS[4], catalog.CAMPAIGN_EXCERPTS[3]),
    )
    _accounts(
        ctx, group, co, pool=pool, rotating=np.ones(n, bool),
        sticky=pool[rng.integers(0, pool.size, n)], emails=cell_emails(ctx, co.cell, 0.85),
        payment=payment, method=method, devices=cell_devices(ctx, co.cell, 0.5),
        billing=list(rng.choice(["HK", "SG", "US"], size=n)), phone=rng.random(n) < 0.4,
        lang=0, system=ctx.hashes(2)[rng.integers(0, 2, n)], weight_shape=5.0,
        plan="scale",
    )


def _d(ctx: Context, target) -> None:
    """D: small, synchronized, shared payment, rubric grading and reasoning elicitation."""
    rng = ctx.rng
    n = target.accounts
    co = cohort(ctx, n, waves=[], ban_share=0.0, cell_size=max(2, n))
    network = catalog.HOSTING[rng.integers(len(catalog.HOSTING))]
    pool = ctx.net.add(network, max(4, n // 8), subnets=2)
    cards = ctx.hashes(3)
    per_day = target.requests / 45
    group = Group(
        gid="D", kind="D", label="campaign", requests=target.requests,
        description="Small group firing in synchronized bursts on shared payment methods: "
                    "reasoning, rubric grading and reasoning-trace elicitation.",
        tactics=("synchronized_bursts", "shared_payment", "hosting_ips", "sticky_ips",
                 "template_reuse", "rubric_grading", "reasoning_elicitation", "cover_traffic"),
        timing="sync", profile=FLAT, tz=0.0, weekend=1.0, pool=pool,
        bursts_per_day=max(2, round(per_day / (2 * n))), burst_spread_s=40,
        attack_mix=mix({"reasoning": 45, "grading": 40, "math": 15}), cover=0.1,
        templates=_templates(ctx, 5), template_share=0.85, reasoning=0.8,
        models=np.array([0.95, 0.05, 0.0, 0.0]), adopts_new_model=False, in_tokens=(7.0, 0.5),
        out_tokens=(7.8, 0.5), stream=0.0, turns=1.0,
        excerpts=(catalog.CAMPAIGN_EXCERPTS[2], catalog.CAMPAIGN_EXCERPTS[3]),
    )
    _accounts(
        ctx, group, co, pool=pool, rotating=np.zeros(n, bool),
        sticky=pool[rng.integers(0, pool.size, n)], emails=[name_email(ctx) for _ in range(n)],
        payment=cards[rng.integers(0, 3, n)], method=["prepaid_card"] * n,
        devices=ctx.hashes(n), billing=["SG"] * n, phone=False, lang=0,
        system=ctx.hashes(1)[0], plan="build",
    )


def _e(ctx: Context, target) -> None:
    """E: linked only by templates and timing; every account's infrastructure is its own."""
    rng = ctx.rng
    n = target.accounts
    co = cohort(ctx, n, waves=[], ban_share=0.0, cell_size=max(2, n // 6))
    networks = catalog.RESIDENTIAL
    which = pick(rng, networks, n)
    sticky = ctx.net.add_mixed(networks, n, per_subnet=1, which=which)
    per_day = target.requests / 45
    group = Group(
        gid="E", kind="templates_and_timing", label="campaign", requests=target.requests,
        description="Hard case: accounts with distinct addresses, cards, devices and clean "
                    "e-mails, linked only by shared prompt templates (near-duplicate simhashes) "
                    "and bursts of activity in another time zone's working hours.",
        tactics=("distinct_infrastructure", "distinct_cards", "clean_emails", "template_reuse",
                 "foreign_working_hours", "synchronized_bursts", "cover_traffic"),
        timing="sync", profile=OFFICE, tz=3.0, weekend=0.2,
        bursts_per_day=max(2, round(per_day / (1.5 * n))), burst_spread_s=300, pool=sticky,
        attack_mix=mix({"coding": 50, "reasoning": 20, "math": 15, "data_analysis": 15}),
        cover=0.35, templates=_templates(ctx, 8), template_share=0.75, reasoning=0.3,
        adopts_new_model=False, in_tokens=(6.8, 0.8), out_tokens=(7.2, 0.8), stream=0.5,
        excerpts=(catalog.CAMPAIGN_EXCERPTS[0],),
    )
    _accounts(
        ctx, group, co, pool=sticky, rotating=np.zeros(n, bool), sticky=sticky,
        emails=[name_email(ctx) for _ in range(n)], payment=ctx.hashes(n),
        method=["card"] * n, devices=ctx.hashes(n), billing=[networks[w][1] for w in which],
        phone=True, lang=0, system=np.where(rng.random(n) < 0.5, -1, ctx.hashes(n)),
        plan="build",
    )
    ctx.cols.parts["client"][-1] = client_choice(rng, n)  # no shared SDK build either


def _f(ctx: Context, target) -> None:
    """F: linked only by infrastructure and synchrony; its prompts look like anyone's."""
    rng = ctx.rng
    n = target.accounts
    co = cohort(ctx, n, waves=[], ban_share=0.0, cell_size=max(2, n // 4))
    pool = ctx.net.add_mixed(catalog.PROXY[:3], 30, per_subnet=10)  # three /24s
    per_day = target.requests / 45
    group = Group(
        gid="F", kind="infrastructure_and_synchrony", label="campaign", requests=target.requests,
        description="Hard case: ordinary-looking, varied prompts with no shared templates, but "
                    "the accounts sign up from and rotate over the same few proxy subnets, reuse "
                    "device profiles and act in the same minutes.",
        tactics=("shared_proxy_subnets", "device_reuse", "synchronized_bursts", "clean_emails",
                 "distinct_cards"),
        timing="sync", profile=FLAT, tz=0.0, weekend=1.0, pool=pool,
        bursts_per_day=max(2, round(per_day / (2 * n))), burst_spread_s=60, cover=1.0,
        adopts_new_model=False,
    )
    _accounts(
        ctx, group, co, pool=pool, rotating=np.ones(n, bool),
        sticky=pool[rng.integers(0, pool.size, n)], emails=[name_email(ctx) for _ in range(n)],
        payment=ctx.hashes(n), method=["card"] * n,
        devices=ctx.hashes(max(1, n // 10))[rng.integers(0, max(1, n // 10), n)],
        billing=["US"] * n, phone=True, lang=0, system=system_prompts_like_anyone(ctx, n),
        plan="build",
    )


def system_prompts_like_anyone(ctx: Context, n: int) -> np.ndarray:
    from .populations import system_prompts

    return system_prompts(ctx, n)
