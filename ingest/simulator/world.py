"""The simulated world: accounts, organisations, addresses and the groups that generate traffic.

A *group* is a population with one behaviour (hobbyists, one enterprise, campaign A...).  The
world is built once, in the parent process, from the preset and the seed; the traffic
generator then reads it (forked workers inherit it) to produce each day's requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import ClassVar

import numpy as np
import pyarrow as pa

from . import catalog
from .network import IpTable, Network
from .presets import WINDOW_DAYS, WINDOW_START, Preset
from .strings import random_ids

DAY_MS = 86_400_000
START_MS = int(WINDOW_START.timestamp() * 1000)
END_MS = START_MS + WINDOW_DAYS * DAY_MS


def day_start_ms(day: int) -> int:
    return START_MS + day * DAY_MS


def day_name(day: int) -> str:
    return (WINDOW_START + timedelta(days=day)).strftime("%Y-%m-%d")


def hour_profile(peaks: list[tuple[float, float, float]], floor: float = 0.05) -> np.ndarray:
    """A 24-bin local-hour weighting from Gaussian bumps (centre hour, width, height)."""
    hours = np.arange(24) + 0.5
    weights = np.full(24, floor)
    for centre, width, height in peaks:
        distance = np.minimum(np.abs(hours - centre), 24 - np.abs(hours - centre))
        weights += height * np.exp(-0.5 * (distance / width) ** 2)
    return weights / weights.sum()


EVENINGS = hour_profile([(13, 3, 0.6), (21, 2.5, 1.0)])
OFFICE = hour_profile([(10.5, 1.8, 1.0), (15, 2.0, 0.9)], floor=0.02)
STUDENTS = hour_profile([(15, 3, 0.6), (22.5, 2.0, 1.0)], floor=0.08)
FLAT = np.full(24, 1 / 24)


def mix(weights: dict[str, float]) -> np.ndarray:
    """Category weights by name -> probabilities over catalog.CATEGORIES."""
    out = np.zeros(len(catalog.CATEGORIES))
    for name, weight in weights.items():
        out[catalog.CAT[name]] = weight
    return out / out.sum()


@dataclass
class Group:
    """A population with one behaviour, and its share of the window's requests."""

    gid: str
    kind: str
    label: str  # "campaign", "hard_negative" or "legit"
    accounts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    requests: int = 0
    description: str = ""
    tactics: tuple[str, ...] = ()
    timing: str = "diurnal"  # diurnal | regular | sync
    profile: np.ndarray = field(default_factory=lambda: EVENINGS)
    tz: float | None = None  # one clock for the whole group (foreign working hours)
    weekend: float = 0.8  # weight of a Saturday or Sunday relative to a weekday
    bursts_per_day: int = 0
    burst_spread_s: float = 60.0
    pool: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    attack_mix: np.ndarray | None = None  # category weights of the harvesting traffic
    late_day: int | None = None  # from this day on, the late_* settings apply (campaign C)
    late_mix: np.ndarray | None = None
    late_reasoning: float = 0.0
    late_templates: np.ndarray | None = None
    cover: float = 1.0  # share of benign-looking requests
    templates: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    template_share: float = 0.0
    reasoning: float = 0.03
    models: np.ndarray = field(default_factory=lambda: np.array([0.55, 0.35, 0.10, 0.0]))
    adopts_new_model: bool = True  # legitimate users drift to the new model slowly
    pivot_ms: int | None = None  # campaign B: half its traffic moves to the new model
    in_tokens: tuple[float, float] = (6.0, 1.0)  # lognormal mu, sigma
    out_tokens: tuple[float, float] = (6.2, 0.9)
    stream: float = 0.6
    tools: tuple[int, int] = (1, 12)
    turns: float = 2.5
    throttled: float = 0.003  # share of 429 answers
    leak: float = 0.0  # share of calls that slip out of the proxies from a blocked country
    leak_pool: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    end_users: int = 0
    repeat_prompt: float = 0.04  # share of calls re-sending one of the account's own prompts
    private_template_share: float = 0.0  # share of benign calls using the account's template
    benign_mix: np.ndarray = field(default_factory=lambda: mix(catalog.LEGIT_MIX))
    excerpts: tuple[str, ...] = ()  # prompt starts of the group's own (templated) calls
    benign_excerpts: tuple[str, ...] = tuple(catalog.LEGIT_EXCERPTS)
    template_excerpt: str = ""  # prompt start of an account's private template
    # set by the world: per-day request targets
    per_day: np.ndarray = field(default_factory=lambda: np.zeros(WINDOW_DAYS, np.int64))


class AccountColumns:
    """Column lists of all accounts, appended to group by group."""

    NUMERIC: ClassVar[dict] = {
        "created_ms": np.int64, "ban_ms": np.int64, "group": np.int32, "org": np.int64,
        "signup_ip": np.int32, "payment": np.int64, "phone": np.bool_, "device": np.int64,
        "tz": np.float64, "sticky": np.int32, "sticky2": np.int32, "second_share": np.float64,
        "rotating": np.bool_, "client": np.int16, "lang": np.int16, "keys": np.int16,
        "weight": np.float64, "active": np.float64, "template": np.int64, "system": np.int64,
        "offset_min": np.int16,
    }
    TEXT = ("email", "billing", "method", "channel", "plan")

    def __init__(self) -> None:
        self.parts: dict[str, list] = {name: [] for name in (*self.NUMERIC, *self.TEXT)}
        self.size = 0

    def add(self, n: int, **cols) -> np.ndarray:
        """Append n accounts; scalars broadcast.  Returns their global indices."""
        for name in self.parts:
            value = cols.pop(name, None)
            if value is None:
                value = _DEFAULTS[name]
            if name in self.TEXT:
                value = list(value) if not isinstance(value, str) else [value] * n
                assert len(value) == n, name
            else:
                value = np.broadcast_to(np.asarray(value, dtype=self.NUMERIC[name]), (n,))
            self.parts[name].append(value)
        if cols:
            raise TypeError(f"unknown account columns: {sorted(cols)}")
        start, self.size = self.size, self.size + n
        return np.arange(start, self.size, dtype=np.int64)

    def freeze(self) -> dict:
        out: dict = {}
        for name, chunks in self.parts.items():
            if name in self.TEXT:
                out[name] = [v for chunk in chunks for v in chunk]
            else:
                out[name] = np.concatenate(chunks).astype(self.NUMERIC[name])
        return out


_DEFAULTS = {
    "created_ms": START_MS - 400 * DAY_MS, "ban_ms": -1, "group": 0, "org": -1, "signup_ip": -1,
    "payment": -1, "phone": True, "device": -1, "tz": 0.0, "sticky": 0, "sticky2": -1,
    "second_share": 0.0, "rotating": False, "client": 0, "lang": 0, "keys": 1, "weight": 1.0,
    "active": 1.0, "template": -1, "system": -1, "offset_min": 0, "email": None, "billing": "US",
    "method": "card", "channel": "self_serve", "plan": "build",
}


@dataclass
class World:
    """Everything the traffic generator needs, fixed by (preset, seed)."""

    preset: Preset
    seed: int
    groups: list[Group]
    accounts: dict
    account_ids: pa.StringArray
    org_ids: pa.StringArray  # indexed by the `org` column
    key_ids: pa.StringArray
    key_base: np.ndarray  # first key row of each account
    ips: IpTable
    release_ms: int
    updates: list[tuple[int, int, str]]  # (time ms, account, new status) after sign-up

    @property
    def size(self) -> int:
        return len(self.account_ids)


class Context:
    """Mutable state shared by the population builders while the world is assembled."""

    def __init__(self, preset: Preset, seed: int) -> None:
        self.preset = preset
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, 0x57A7E]))
        self.net = Network(self.rng)
        self.cols = AccountColumns()
        self.groups: list[Group] = []
        self.orgs = 0
        self.emails: set[str] = set()
        self.updates: list[tuple[int, int, str]] = []
        self.release_ms = START_MS + 24 * DAY_MS + 17 * 3_600_000  # 2026-04-25T17:00Z

    def new_orgs(self, n: int) -> np.ndarray:
        start, self.orgs = self.orgs, self.orgs + n
        return np.arange(start, self.orgs, dtype=np.int64)

    def hashes(self, n: int) -> np.ndarray:
        """Fresh random 63-bit values for fingerprints, template and prompt ids."""
        return self.rng.integers(0, 2**63 - 1, size=n, dtype=np.int64)

    def unique_email(self, email: str) -> str:
        """Sign-up systems refuse a second account with the same address: add digits."""
        base, domain = email.split("@")
        candidate, n = email, 1
        while candidate in self.emails:
            n += 1
            candidate = f"{base}{n}@{domain}"
        self.emails.add(candidate)
        return candidate

    def add_group(self, group: Group, n: int, **cols) -> np.ndarray:
        index = len(self.groups)
        self.groups.append(group)
        group.accounts = self.cols.add(n, group=index, **cols)
        return group.accounts


def build_world(preset: Preset, seed: int) -> World:
    """Build accounts, addresses and groups for `preset` deterministically from `seed`."""
    from . import campaigns, populations

    ctx = Context(preset, seed)
    populations.build_legit(ctx)
    populations.build_hard_negatives(ctx)
    campaigns.build_campaigns(ctx)
    accounts = ctx.cols.freeze()
    n = ctx.cols.size
    id_rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1D5]))
    account_ids = _unique_ids(id_rng, n, "acct_", 12)
    keys = accounts["keys"].astype(np.int64)
    key_base = np.concatenate([[0], np.cumsum(keys)[:-1]]).astype(np.int64)
    world = World(
        preset=preset, seed=seed, groups=ctx.groups, accounts=accounts, account_ids=account_ids,
        org_ids=_unique_ids(id_rng, max(ctx.orgs, 1), "org_", 10),
        key_ids=_unique_ids(id_rng, int(keys.sum()), "key_", 16),
        key_base=key_base, ips=ctx.net.freeze(), release_ms=ctx.release_ms,
        updates=sorted(ctx.updates),
    )
    from .schedule import plan_days

    plan_days(world)
    return world


def _unique_ids(rng: np.random.Generator, n: int, prefix: str, width: int) -> pa.StringArray:
    ids = random_ids(rng, n, prefix, width)
    # 32**12 values make a collision vanishingly rare, but a repeated id would merge accounts.
    if len(set(ids.to_pylist())) != n:
        return _unique_ids(rng, n, prefix, width)
    return ids
