"""How many requests each group sends on each day, and which accounts are alive that day.

Counts are fixed up front (largest-remainder rounding) so that a campaign's total is exactly
its preset's target, whatever the random draws inside each day do.
"""

from __future__ import annotations

import numpy as np

from .presets import WINDOW_DAYS
from .world import DAY_MS, World, day_start_ms


def alive(world: World, accounts: np.ndarray, day: int) -> np.ndarray:
    """Mask of accounts that can call on `day`: signed up before it, not closed or banned yet."""
    start = day_start_ms(day)
    created = world.accounts["created_ms"][accounts]
    banned = world.accounts["ban_ms"][accounts]
    return (created < start) & ((banned < 0) | (banned >= start + DAY_MS))


def is_weekend(day: int) -> bool:
    # 2026-04-01 is a Wednesday: day 3 is Saturday.
    return (day + 2) % 7 >= 5


def allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split `total` into integers proportional to `weights`, summing exactly to `total`."""
    if total <= 0 or weights.sum() <= 0:
        return np.zeros(weights.size, dtype=np.int64)
    share = weights / weights.sum() * total
    counts = np.floor(share).astype(np.int64)
    short = total - counts.sum()
    counts[np.argsort(-(share - counts), kind="stable")[:short]] += 1
    return counts


def plan_days(world: World) -> None:
    """Set every group's per-day request counts from its live accounts and weekly rhythm."""
    acc = world.accounts
    for group in world.groups:
        weights = np.zeros(WINDOW_DAYS)
        volume = acc["weight"][group.accounts] * acc["active"][group.accounts]
        for day in range(WINDOW_DAYS):
            live = alive(world, group.accounts, day)
            factor = group.weekend if is_weekend(day) else 1.0
            weights[day] = volume[live].sum() * factor
        group.per_day = allocate(group.requests, weights)


def split(count: int, part: int, parts: int) -> int:
    """Records of a day's `count` that fall to chunk `part` when taking every `parts`-th one."""
    return len(range(part, count, parts))
