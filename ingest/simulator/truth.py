"""ground_truth.json: what was planted, so detection can be measured against it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from .world import END_MS, START_MS, World


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def ground_truth(world: World, counts: np.ndarray, first_ms: np.ndarray, files: list[dict]) -> dict:
    """The truth document: campaigns, hard-negative groups, totals and the file list."""
    from . import catalog

    ids = world.account_ids
    campaigns, negatives = [], []
    for gi, group in enumerate(world.groups):
        members = ids.take(np.sort(group.accounts)).to_pylist()
        if group.label == "campaign":
            entry = {
                "id": group.gid, "kind": group.kind, "description": group.description,
                "tactics": list(group.tactics), "accounts": sorted(members),
                "requests": int(counts[gi]),
                "first_request": rfc3339(int(first_ms[gi])) if counts[gi] else None,
            }
            if group.pivot_ms is not None:
                entry["new_model"] = catalog.NEW_MODEL
                entry["new_model_release"] = rfc3339(world.release_ms)
            campaigns.append(entry)
        elif group.label == "hard_negative":
            negatives.append({"id": group.gid, "kind": group.kind, "accounts": sorted(members),
                              "requests": int(counts[gi])})
    campaign_accounts = sum(len(c["accounts"]) for c in campaigns)
    campaign_requests = sum(c["requests"] for c in campaigns)
    return {
        "format": 1,
        "preset": world.preset.name,
        "seed": world.seed,
        "scale": world.preset.scale,
        "window": {"start": rfc3339(START_MS).replace(".000Z", "Z"),
                   "end": rfc3339(END_MS).replace(".000Z", "Z")},
        "campaigns": campaigns,
        "hard_negatives": negatives,
        "totals": {
            "accounts": world.size,
            "legit_accounts": world.size - campaign_accounts,
            "campaign_accounts": campaign_accounts,
            "requests": int(counts.sum()),
            "campaign_requests": campaign_requests,
        },
        "files": files,
    }
