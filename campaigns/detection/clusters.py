"""Groups on the link graph: connected components over strong links, then peeling.

Strong links already need two independent kinds of evidence (links.EDGE_THRESHOLD). Inside a
component, accounts hanging on by a single link are peeled off (a k-core, as Fraudar peels
the least dense nodes first), so one stray coincidence does not pull a stranger into a group;
and a link in no triangle between two accounts that are each well linked elsewhere is cut, so
one coincidence between two campaigns (a shared sign-up half hour and a shared /24 on a day)
does not merge them into one.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

MIN_GROUP = 5
MIN_DEGREE = 2
# An edge whose two ends are each well linked elsewhere (this many strong links) but have no
# neighbour in common is a bridge between two groups, not a tie inside one.
BRIDGE_DEGREE = 3
# Only links this close to the threshold need that support: two kinds of evidence at most.
WEAK_LINK = 2.0


def _peel(binary: sp.csr_matrix, alive: np.ndarray, min_degree: int) -> np.ndarray:
    """Drop nodes with fewer than ``min_degree`` strong links among the living, repeatedly."""
    while True:
        degree = binary @ alive.astype(np.int32)
        drop = alive & (degree < min_degree)
        if not drop.any():
            return alive
        alive &= ~drop


def _unsupported(binary: sp.csr_matrix, weak: sp.csr_matrix, alive: np.ndarray,
                 chunk: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Living edges (i < j) with no common living neighbour whose ends both have BRIDGE_DEGREE links.

    Inside a group, linked accounts share further partners (they share the same card, template
    or burst with many members); a chance coincidence between two groups has no such support.
    """
    mask = sp.diags(alive.astype(np.int32), dtype=np.int32)
    live = (mask @ binary @ mask).tocsr()
    degree = np.asarray(live.sum(axis=1)).ravel()
    coo = sp.triu(mask @ weak @ mask, k=1).tocoo()
    i, j = coo.row, coo.col
    cand = (degree[i] >= BRIDGE_DEGREE) & (degree[j] >= BRIDGE_DEGREE)
    i, j = i[cand], j[cand]
    common = np.zeros(i.size, dtype=np.int64)
    for lo in range(0, i.size, chunk):
        common[lo:lo + chunk] = np.asarray(live[i[lo:lo + chunk]].multiply(live[j[lo:lo + chunk]]).sum(axis=1)).ravel()
    return i[common == 0], j[common == 0]


def groups(pairs: np.ndarray, weights: np.ndarray, n: int, threshold: float,
           min_size: int = MIN_GROUP, min_degree: int = MIN_DEGREE) -> list[np.ndarray]:
    """Account index arrays of each group, biggest first."""
    strong = weights >= threshold
    i, j = pairs[strong, 0], pairs[strong, 1]
    w = weights[strong]
    adj = sp.coo_matrix((w, (i, j)), shape=(n, n)).tocsr()
    adj = adj + adj.T
    binary = (adj > 0).astype(np.int32).tocsr()
    alive = _peel(binary, np.ones(n, dtype=bool), min_degree)
    # Cut unsupported bridges (edges in no triangle between well-linked ends), then peel again.
    weak = sp.coo_matrix((np.ones(int((w < WEAK_LINK).sum()), np.int32), (i[w < WEAK_LINK], j[w < WEAK_LINK])),
                         shape=(n, n)).tocsr()
    bi, bj = _unsupported(binary, (weak + weak.T).tocsr(), alive)
    if bi.size:
        cut = sp.coo_matrix((np.ones(bi.size), (bi, bj)), shape=(n, n)).tocsr()
        cut = ((cut + cut.T) > 0)
        adj = adj - adj.multiply(cut)
        adj.eliminate_zeros()
        binary = (adj > 0).astype(np.int32).tocsr()
        alive = _peel(binary, alive, min_degree)
    mask = sp.diags(alive.astype(np.float64))
    core = (mask @ adj @ mask).tocsr()
    count, labels = connected_components(core, directed=False)
    out = []
    sizes = np.bincount(labels[alive], minlength=count)
    for label in np.flatnonzero(sizes >= min_size):
        out.append(np.flatnonzero((labels == label) & alive))
    out.sort(key=lambda g: -g.size)
    return out


def strength(adj_pairs: np.ndarray, weights: np.ndarray, members: np.ndarray, threshold: float) -> dict[int, float]:
    """Weighted strong degree of each member inside its group (for confidence)."""
    inside = np.isin(adj_pairs[:, 0], members) & np.isin(adj_pairs[:, 1], members) & (weights >= threshold)
    p, w = adj_pairs[inside], weights[inside]
    deg = np.bincount(np.r_[p[:, 0], p[:, 1]], weights=np.r_[w, w], minlength=int(members.max()) + 1)
    return {int(m): float(deg[m]) for m in members}
