"""Named sizes of the simulated world.

A preset fixes how many accounts and requests each population gets over the window.  The
`seed` preset is the scale of the 2026 reports in DESIGN.md (campaign A: 25,000 accounts and
28.8 million requests in 45 days); `demo` and `tiny` keep every population but shrink it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

WINDOW_START = datetime(2026, 4, 1, tzinfo=UTC)
WINDOW_DAYS = 45  # campaign A's 45 days; ends 2026-05-16T00:00:00Z.


@dataclass(frozen=True)
class Target:
    """Accounts and requests one population should have over the whole window."""

    accounts: int
    requests: int

    def scaled(self, factor: float) -> Target:
        return Target(max(1, round(self.accounts * factor)), max(1, round(self.requests * factor)))


@dataclass(frozen=True)
class Preset:
    """Everything that sizes a world; `scale` multiplies accounts and requests alike."""

    name: str
    legit: Target
    campaigns: dict[str, Target]
    # kind -> per-group targets (one Target per hard-negative group)
    hard_negatives: dict[str, tuple[Target, ...]]
    # Encodings of request files, cycled over the days of the window.
    encodings: tuple[str, ...] = ("jsonl.gz", "parquet", "csv.gz", "parquet", "jsonl", "parquet")
    part_rows: int = 400_000  # largest request file; bigger days are split into parts
    workers: int = 2
    scale: float = 1.0
    extra: dict[str, float] = field(default_factory=dict)

    def scaled(self, factor: float) -> Preset:
        """This preset with every account and request count multiplied by `factor`."""
        if factor == 1.0:
            return self
        return replace(
            self,
            legit=self.legit.scaled(factor),
            campaigns={k: t.scaled(factor) for k, t in self.campaigns.items()},
            hard_negatives={
                k: tuple(t.scaled(factor) for t in ts) for k, ts in self.hard_negatives.items()
            },
            scale=self.scale * factor,
        )

    def total_requests(self) -> int:
        hn = sum(t.requests for ts in self.hard_negatives.values() for t in ts)
        return self.legit.requests + sum(t.requests for t in self.campaigns.values()) + hn


def _groups(count: int, accounts: int, requests: int) -> tuple[Target, ...]:
    """`count` hard-negative groups of about the same size, varied so they are not clones."""
    sizes = [0.6 + 0.8 * ((i * 7919) % 11) / 10 for i in range(count)]
    norm = count / sum(sizes)
    return tuple(
        Target(max(1, math.floor(accounts * s * norm)), max(1, math.floor(requests * s * norm)))
        for s in sizes
    )


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        name="tiny",
        legit=Target(300, 6_000),
        campaigns={
            "A": Target(120, 12_000), "B": Target(30, 6_000), "C": Target(12, 3_000),
            "D": Target(8, 600), "E": Target(12, 900), "F": Target(10, 600),
        },
        hard_negatives={
            "enterprise": _groups(1, 20, 1_500), "ci_bot": _groups(2, 1, 600),
            "university": _groups(1, 40, 1_200), "eval_company": _groups(1, 2, 800),
            "reseller": _groups(1, 2, 800),
        },
        encodings=("jsonl.gz", "parquet", "csv.gz", "jsonl"),
        part_rows=200_000,
        workers=1,
    ),
    "demo": Preset(
        name="demo",
        legit=Target(5_000, 420_000),
        campaigns={
            "A": Target(1_500, 1_600_000), "B": Target(240, 720_000), "C": Target(40, 190_000),
            "D": Target(20, 9_000), "E": Target(40, 25_000), "F": Target(24, 12_000),
        },
        hard_negatives={
            "enterprise": _groups(2, 60, 30_000), "ci_bot": _groups(4, 1, 6_000),
            "university": _groups(2, 150, 12_000), "eval_company": _groups(2, 3, 8_000),
            "reseller": _groups(3, 2, 9_000),
        },
    ),
    "seed": Preset(
        name="seed",
        legit=Target(100_000, 6_000_000),
        campaigns={
            "A": Target(25_000, 28_800_000), "B": Target(3_000, 13_000_000),
            "C": Target(400, 3_400_000), "D": Target(60, 150_000), "E": Target(300, 300_000),
            "F": Target(120, 150_000),
        },
        hard_negatives={
            "enterprise": _groups(6, 200, 250_000), "ci_bot": _groups(12, 2, 40_000),
            "university": _groups(4, 400, 120_000), "eval_company": _groups(4, 4, 120_000),
            "reseller": _groups(6, 3, 100_000),
        },
        # The bulk in Parquet keeps 55M records to a few GB; text encodings still appear.
        encodings=("parquet", "parquet", "jsonl.gz", "parquet", "parquet", "parquet", "parquet",
                   "csv.gz", "parquet", "parquet", "parquet"),
        part_rows=500_000,
    ),
}


def get_preset(name: str, scale: float = 1.0) -> Preset:
    """The named preset multiplied by `scale`; a clear error for an unknown name."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"scale must be a positive number, not {scale!r}")
    return PRESETS[name].scaled(scale)
