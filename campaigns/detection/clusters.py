"""Groups on the link graph: connected components over strong links, then peeling.

Strong links already need two independent kinds of evidence (links.EDGE_THRESHOLD). Inside a
component, accounts hanging on by a single link are peeled off (a k-core, as Fraudar peels
the least dense nodes first), so one stray coincidence does not pull a stranger into a group.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

MIN_GROUP = 5
MIN_DEGREE = 2


def groups(pairs: np.ndarray, weights: np.ndarray, n: int, threshold: float,
           min_size: int = MIN_GROUP, min_degree: int = MIN_DEGREE) -> list[np.ndarray]:
    """Account index arrays of each group, biggest first."""
    strong = weights >= threshold
    i, j = pairs[strong, 0], pairs[strong, 1]
    w = weights[strong]
    adj = sp.coo_matrix((w, (i, j)), shape=(n, n)).tocsr()
    adj = adj + adj.T
    alive = np.ones(n, dtype=bool)
    # Peel: drop nodes with fewer than `min_degree` strong links among the living, repeatedly.
    binary = (adj > 0).astype(np.int32)
    while True:
        degree = binary @ alive.astype(np.int32)
        drop = alive & (degree < min_degree)
        if not drop.any():
            break
        alive &= ~drop
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
