"""Request generation: one chunk (a day, or a part of a big day) at a time, vectorized.

Each group draws its chunk's requests as numpy arrays (who, when, from where, what), the
chunk's arrays are concatenated, sorted by time and turned into an Arrow table.  Random
streams are keyed by (seed, day, part, group), so a chunk is the same whichever process
makes it and in whatever order.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import catalog
from .schedule import alive, split
from .strings import hex_strings, random_ids, splitmix64
from .world import DAY_MS, Group, World, day_start_ms

TOOL_CATEGORIES = np.isin(
    np.arange(len(catalog.CATEGORIES)),
    [catalog.CAT[c] for c in ("agentic", "tool_use", "computer_use", "long_horizon")],
)
NEW_MODEL = catalog.MODELS.index(catalog.NEW_MODEL)
EXCERPTS = sorted(
    set(catalog.LEGIT_EXCERPTS + catalog.CAMPAIGN_EXCERPTS)
    | {catalog.ENTERPRISE_EXCERPT, catalog.EVAL_EXCERPT, catalog.CI_EXCERPT}
)
EXCERPT_ROW = {text: i for i, text in enumerate(EXCERPTS)}
EXCERPT_SHARE = 0.01  # the gateway keeps a prompt start on about one call in a hundred


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


def _draw(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    """n draws from the discrete distribution p (faster than rng.choice for big n)."""
    return np.minimum(np.searchsorted(np.cumsum(p), rng.random(n) * p.sum()), p.size - 1)


def _near_duplicates(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    """SimHashes of template fills: the template's own, with 0-3 bits flipped."""
    bits = rng.integers(0, 64, size=(base.size, 3)).astype(np.uint64)
    keep = rng.random((base.size, 3)) < 0.6
    flips = np.where(keep, np.left_shift(np.uint64(1), bits), np.uint64(0))
    return base ^ flips[:, 0] ^ flips[:, 1] ^ flips[:, 2]


class DayContext:
    """What holds for a group for a whole day, whichever part is being made."""

    def __init__(self, world: World, gi: int, group: Group, day: int) -> None:
        rng = _rng(world.seed, 1, day, gi)
        acc = world.accounts
        live = group.accounts[alive(world, group.accounts, day)]
        # Sporadic users skip days; heavy daily users rarely do.
        shows = rng.random(live.size) < acc["active"][live]
        weights = acc["weight"][live] * shows
        if weights.sum() <= 0:
            weights = acc["weight"][live].copy()
        self.accounts, self.weights = live, weights
        self.burst_s = np.zeros(0)
        if group.timing == "sync":
            hours = _draw(rng, group.profile, group.bursts_per_day)
            local = hours * 3600 + rng.random(hours.size) * 3600
            self.burst_s = (local - (group.tz or 0.0) * 3600) % 86_400
        if group.timing == "regular":
            # Each bot sends the same number of calls every day, evenly spaced.
            self.per_account = np.full(live.size, group.per_day[day] // max(1, live.size))
            self.per_account[: group.per_day[day] - self.per_account.sum()] += 1
            self.phase = (splitmix64(live.astype(np.uint64)) % np.uint64(60_000)).astype(np.int64)


def _who_and_when(rng, group: Group, ctx: DayContext, world: World, n: int, part: int,
                  parts: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Account rows, milliseconds into the UTC day and per-account call counts."""
    if group.timing == "regular":
        slots = np.arange(part, int(ctx.per_account.sum()), parts)
        ends = np.cumsum(ctx.per_account)
        who = np.searchsorted(ends, slots, side="right")
        k = slots - (ends[who] - ctx.per_account[who])
        period = DAY_MS // np.maximum(ctx.per_account[who], 1)
        ms = (ctx.phase[who] + k * period + rng.integers(0, 1500, slots.size)) % DAY_MS
        return ctx.accounts[who], ms, ctx.per_account[who]
    counts = rng.multinomial(n, ctx.weights / ctx.weights.sum())
    who = np.repeat(np.arange(ctx.accounts.size), counts)
    rng.shuffle(who)
    accounts = ctx.accounts[who]
    if group.timing == "sync":
        start = ctx.burst_s[rng.integers(0, ctx.burst_s.size, n)]
        seconds = (start + rng.random(n) * group.burst_spread_s) % 86_400
    else:
        tz = group.tz if group.tz is not None else world.accounts["tz"][accounts]
        local = _draw(rng, group.profile, n) * 3600 + rng.random(n) * 3600
        seconds = (local - np.asarray(tz) * 3600) % 86_400
    return accounts, (seconds * 1000).astype(np.int64), counts[who]


def _addresses(rng, group: Group, world: World, accounts: np.ndarray) -> np.ndarray:
    acc = world.accounts
    n = accounts.size
    ip = acc["sticky"][accounts].astype(np.int64)
    second = acc["sticky2"][accounts]
    use_second = (second >= 0) & (rng.random(n) < acc["second_share"][accounts])
    ip = np.where(use_second, second, ip)
    if group.pool.size:
        rotating = acc["rotating"][accounts]
        ip = np.where(rotating, group.pool[rng.integers(0, group.pool.size, n)], ip)
    return ip


def group_chunk(world: World, gi: int, day: int, part: int, parts: int) -> dict | None:
    """The requests that group `gi` makes in chunk (day, part), as numpy columns."""
    group = world.groups[gi]
    n = split(int(group.per_day[day]), part, parts)
    if n == 0:
        return None
    ctx = DayContext(world, gi, group, day)
    rng = _rng(world.seed, 2, day, part, gi)
    accounts, ms, per_account = _who_and_when(rng, group, ctx, world, n, part, parts)
    n = accounts.size
    acc = world.accounts
    abs_ms = day_start_ms(day) + ms
    cols: dict = {"account": accounts, "ms": ms, "ip": _addresses(rng, group, world, accounts)}

    late = group.late_day is not None and day >= group.late_day
    attack = np.zeros(n, bool) if group.attack_mix is None else rng.random(n) >= group.cover
    mix = group.late_mix if late else group.attack_mix
    category = _draw(rng, group.benign_mix, n)
    if attack.any():
        category = np.where(attack, _draw(rng, mix, n), category)
    cols["category"] = category

    cols.update(_prompts(rng, group, world, accounts, attack, late))
    reasoning_p = np.where(attack, group.late_reasoning if late else group.reasoning, 0.03)
    if group.attack_mix is None:
        reasoning_p = np.full(n, group.reasoning)
    cols["reasoning"] = rng.random(n) < reasoning_p
    cols["model"] = _models(rng, group, world, abs_ms)
    cols.update(_sizes(rng, group, attack, category, cols["reasoning"]))
    if group.leak:
        leaked = rng.random(n) < group.leak
        cols["ip"] = np.where(leaked, group.leak_pool[rng.integers(0, group.leak_pool.size, n)],
                              cols["ip"])
        cols["status"] = np.where(leaked, 403, cols["status"])
        cols["out"] = np.where(leaked, 0, cols["out"])
    cols["stream"] = rng.random(n) < group.stream
    cols["key"] = world.key_base[accounts] + rng.integers(0, 2**31, n) % acc["keys"][accounts]
    conv_count = np.maximum(1, np.round(per_account / group.turns)).astype(np.int64)
    conv_local = (rng.random(n) * conv_count).astype(np.uint64)
    salt = splitmix64(np.array([world.seed * 1_000_003 + day * 1009 + part * 31 + gi]))[0]
    cols["conv"] = splitmix64((accounts.astype(np.uint64) << np.uint64(24)) ^ conv_local ^ salt)
    if group.end_users:
        users = rng.integers(0, group.end_users, n).astype(np.uint64)
        cols["end_user"] = splitmix64(users ^ np.uint64(gi * 7_777_777))
    cols["excerpt"] = _excerpts(rng, group, attack, cols["template"], n)
    cols["group"] = np.full(n, gi, np.int16)
    return cols


def _prompts(rng, group: Group, world: World, accounts, attack, late) -> dict:
    """prompt_hash, simhash and template of every call."""
    n = accounts.size
    prompt = rng.integers(0, 2**64 - 1, n, dtype=np.uint64)
    simhash = rng.integers(0, 2**64 - 1, n, dtype=np.uint64)
    template = np.zeros(n, np.uint64)
    # Benign calls: now and then a retry of one of the account's own prompts...
    repeat = rng.random(n) < group.repeat_prompt
    own_prompt = splitmix64(accounts.astype(np.uint64) * np.uint64(16)
                            + rng.integers(0, 5, n).astype(np.uint64))
    # ...or the account's (organisation's) private template.
    private = world.accounts["template"][accounts]
    use_private = (~attack) & (private >= 0) & (rng.random(n) < group.private_template_share)
    template = np.where(use_private, private.astype(np.uint64), template)
    if group.repeat_prompt >= 1.0:  # a CI bot sends one fixed prompt
        own_prompt = splitmix64(private.astype(np.uint64) + np.uint64(1))
    prompt = np.where(repeat & ~attack, own_prompt, prompt)
    # Campaign fills of shared templates.
    templates = group.late_templates if late and group.late_templates is not None else group.templates
    if templates.size and attack.any():
        popularity = 1.0 / np.arange(1, templates.size + 1) ** 0.8
        chosen = templates[_draw(rng, popularity, n)]
        templated = attack & (rng.random(n) < group.template_share)
        template = np.where(templated, chosen, template)
    has_template = template != 0
    near = _near_duplicates(rng, splitmix64(template))
    simhash = np.where(has_template, near, simhash)
    fixed = (repeat & ~attack) | (has_template & (group.repeat_prompt >= 1.0))
    simhash = np.where(fixed & ~has_template, splitmix64(prompt), simhash)
    simhash = np.where(fixed & has_template, splitmix64(template), simhash)
    return {"prompt": prompt, "simhash": simhash, "template": template}


def _models(rng, group: Group, world: World, abs_ms: np.ndarray) -> np.ndarray:
    n = abs_ms.size
    model = _draw(rng, group.models, n)
    since = (abs_ms - world.release_ms) / DAY_MS
    if group.adopts_new_model:
        # Ordinary customers move to a new model over weeks, not hours.
        adopt = np.clip(since * 0.012, 0, 0.15)
        model = np.where((since > 0) & (rng.random(n) < adopt), NEW_MODEL, model)
    if group.pivot_ms is not None:
        pivoted = (abs_ms >= group.pivot_ms) & (rng.random(n) < 0.5)
        model = np.where(pivoted, NEW_MODEL, model)
    return model


def _sizes(rng, group: Group, attack, category, reasoning) -> dict:
    """Tokens, latency, tools and status: heavy-tailed, bigger for harvesting calls."""
    n = attack.size
    mu_in = np.where(attack, group.in_tokens[0], 6.0 if group.attack_mix is not None else group.in_tokens[0])
    sd_in = np.where(attack, group.in_tokens[1], 1.0 if group.attack_mix is not None else group.in_tokens[1])
    mu_out = np.where(attack, group.out_tokens[0], 6.2 if group.attack_mix is not None else group.out_tokens[0])
    sd_out = np.where(attack, group.out_tokens[1], 0.9 if group.attack_mix is not None else group.out_tokens[1])
    tokens_in = np.clip(np.exp(mu_in + sd_in * rng.standard_normal(n)), 1, 2_000_000)
    tokens_out = np.exp(mu_out + sd_out * rng.standard_normal(n)) * np.where(reasoning, 1.8, 1.0)
    tokens_out = np.clip(tokens_out, 1, 128_000)
    roll = rng.random(n)
    status = np.where(roll < group.throttled, 429,
                      np.where(roll < group.throttled + 0.003, 400,
                               np.where(roll < group.throttled + 0.005, 500, 200)))
    tokens_out = np.where(status == 200, tokens_out, 0).astype(np.int64)
    latency = tokens_out * rng.uniform(10, 30, n) + np.exp(5.8 + 0.5 * rng.standard_normal(n))
    tools = np.where(TOOL_CATEGORIES[category], rng.integers(group.tools[0], group.tools[1] + 1, n), 0)
    return {"in": tokens_in.astype(np.int64), "out": tokens_out, "latency": latency.astype(np.int64),
            "status": status, "tools": tools}


def _excerpts(rng, group: Group, attack, template, n: int) -> np.ndarray:
    """Row in EXCERPTS of the prompt start kept for a small sample of calls, else -1."""
    sampled = rng.random(n) < EXCERPT_SHARE
    out = np.full(n, -1, np.int16)
    if not sampled.any():
        return out
    benign = np.array([EXCERPT_ROW[t] for t in group.benign_excerpts])
    out = np.where(sampled, benign[rng.integers(0, benign.size, n)], out)
    if group.template_excerpt:
        out = np.where(sampled & ~attack & (template != 0), EXCERPT_ROW[group.template_excerpt], out)
    if group.excerpts:
        own = np.array([EXCERPT_ROW[t] for t in group.excerpts])
        out = np.where(sampled & attack, own[rng.integers(0, own.size, n)], out)
    return out.astype(np.int16)


def chunk_columns(world: World, day: int, part: int, parts: int) -> dict | None:
    """All groups' requests of chunk (day, part), concatenated and sorted by time."""
    pieces = [c for gi in range(len(world.groups)) if (c := group_chunk(world, gi, day, part, parts))]
    if not pieces:
        return None
    n = sum(p["ms"].size for p in pieces)
    cols = {}
    for name in pieces[0]:
        if name == "end_user":
            continue
        cols[name] = np.concatenate([p[name] for p in pieces])
    cols["end_user"] = np.concatenate(
        [p.get("end_user", np.zeros(p["ms"].size, np.uint64)) for p in pieces])
    order = np.argsort(cols["ms"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    cols["turn"] = _turns(cols["conv"], n)
    return cols


def _turns(conv: np.ndarray, n: int) -> np.ndarray:
    """Position of each call in its conversation (calls are already in time order)."""
    order = np.argsort(conv, kind="stable")
    sorted_conv = conv[order]
    starts = np.r_[True, sorted_conv[1:] != sorted_conv[:-1]]
    run_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    turn = np.empty(n, np.int64)
    turn[order] = np.arange(n) - run_start + 1
    return turn


def _nullable(values: pa.Array, valid: np.ndarray) -> pa.Array:
    if valid.all():
        return values
    return pc.if_else(pa.array(valid), values, pa.scalar(None, values.type))


CLIENT_UA = pa.array([c[0] for c in catalog.CLIENTS])
CLIENT_FP = pa.array([c[1] for c in catalog.CLIENTS])
MODELS = pa.array(catalog.MODELS)
CATEGORIES = pa.array(catalog.CATEGORIES)
LANGS = pa.array(catalog.LANGS)
EXCERPT_ARRAY = pa.array(EXCERPTS)


def to_table(world: World, day: int, part: int, cols: dict) -> pa.Table:
    """The chunk as an Arrow table with the log format's field names and types."""
    acc = world.accounts
    n = cols["ms"].size
    accounts = cols["account"]
    ip = cols["ip"]
    excerpt = cols["excerpt"].astype(np.int64)
    return pa.table({
        "request_id": random_ids(_rng(world.seed, 3, day, part), n, "req_", 20),
        "ts": pa.array(day_start_ms(day) + cols["ms"], pa.timestamp("ms", tz="UTC")),
        "account_id": world.account_ids.take(accounts),
        "api_key_id": world.key_ids.take(cols["key"]),
        "org_id": world.org_ids.take(acc["org"][accounts]),
        "ip": world.ips.text.take(ip),
        "country": world.ips.country.take(ip),
        "asn": pa.array(world.ips.asn[ip]),
        "ip_type": world.ips.ip_type.take(ip),
        "user_agent": CLIENT_UA.take(acc["client"][accounts]),
        "client_fingerprint": CLIENT_FP.take(acc["client"][accounts]),
        "end_user_id": _nullable(hex_strings(cols["end_user"], "eu_", 12), cols["end_user"] != 0),
        "model": MODELS.take(cols["model"]),
        "status_code": pa.array(cols["status"].astype(np.int64)),
        "input_tokens": pa.array(cols["in"]),
        "output_tokens": pa.array(cols["out"]),
        "latency_ms": pa.array(cols["latency"]),
        "category": CATEGORIES.take(cols["category"]),
        "prompt_hash": hex_strings(cols["prompt"], "ph_", 16),
        "prompt_simhash": hex_strings(cols["simhash"], "", 16),
        "template_hash": _nullable(hex_strings(cols["template"], "tpl_", 12), cols["template"] != 0),
        "system_prompt_hash": _nullable(hex_strings(acc["system"][accounts].astype(np.uint64), "sp_", 12),
                                        acc["system"][accounts] >= 0),
        "conversation_id": hex_strings(cols["conv"], "conv_", 16),
        "turn": pa.array(cols["turn"]),
        "tool_count": pa.array(cols["tools"].astype(np.int64)),
        "reasoning_requested": pa.array(cols["reasoning"]),
        "stream": pa.array(cols["stream"]),
        "prompt_lang": LANGS.take(acc["lang"][accounts]),
        "prompt_excerpt": EXCERPT_ARRAY.take(pa.array(excerpt, mask=excerpt < 0)),
    })
