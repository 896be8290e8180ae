"""Grouping rules on a hand-made link graph (no database)."""

from __future__ import annotations

import numpy as np

from campaigns.detection import clusters


def _clique(nodes: range) -> list[tuple[int, int]]:
    return [(i, j) for i in nodes for j in nodes if i < j]


def test_one_coincidence_between_two_groups_does_not_merge_them():
    """Two dense groups joined by a single weak link in no triangle stay two groups."""
    edges = _clique(range(0, 8)) + _clique(range(8, 14))
    weights = [3.0] * len(edges)
    edges.append((3, 10))          # a shared sign-up half hour and a /24 on one day
    weights.append(1.5)
    found = clusters.groups(np.array(edges), np.array(weights), 20, 1.5)
    assert sorted(g.size for g in found) == [6, 8]


def test_a_weak_link_that_shares_partners_is_kept():
    """A weak link backed by common partners is a tie inside the group."""
    edges = _clique(range(0, 8))
    weights = [1.5] * len(edges)
    found = clusters.groups(np.array(edges), np.array(weights), 10, 1.5)
    assert [g.size for g in found] == [8]


def test_a_stray_account_on_one_link_is_peeled_off():
    edges = _clique(range(0, 6)) + [(5, 6)]
    found = clusters.groups(np.array(edges), np.array([2.0] * len(edges)), 8, 1.5)
    assert [g.tolist() for g in found] == [list(range(6))]
