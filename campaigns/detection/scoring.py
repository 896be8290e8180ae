"""How likely a group is a distillation campaign, from its behaviour against the baseline.

Each part is a number in [0, 1]; the score is their weighted sum. The baseline is the traffic
of accounts outside every candidate group, so a campaign big enough to dominate all traffic
does not hide inside its own average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from campaigns.detection.features import TARGET_CATEGORIES

WEIGHTS = {
    "capability_focus": 0.20, "reasoning_elicitation": 0.10, "token_harvest": 0.10,
    "machine_rhythm": 0.10, "signup_burst": 0.10, "proxy_hosting": 0.15,
    "geography_mismatch": 0.10, "new_model_pivot": 0.05, "coordination": 0.10,
}
CAMPAIGN_THRESHOLD = 0.30


@dataclass
class AccountBehaviour:
    """Per-account behaviour arrays aligned with the universe."""

    requests: np.ndarray
    target: np.ndarray        # requests in targeted capabilities
    reasoning: np.ndarray
    tokens_out: np.ndarray
    days: np.ndarray          # active days
    hod: np.ndarray           # (n, 24) requests per UTC hour of day
    proxied: np.ndarray
    foreign: np.ndarray
    new_model: np.ndarray     # requests on a model within features.PIVOT_HOURS of its first appearance
    created: np.ndarray
    category: np.ndarray      # (n, n_categories) requests
    category_names: list[str]


def behaviour(universe, hours: dict, reqs: dict, categories: dict[int, str], releases: dict[int, float],
              window_start: float | None) -> AccountBehaviour:
    n = universe.size
    idx = universe.index_of(hours["account_id"].astype(np.int64))
    req = hours["requests"].astype(np.float64)
    cat_ids = sorted(categories)
    cat_pos = {c: i for i, c in enumerate(cat_ids)}
    cpos = np.array([cat_pos.get(int(c), 0) for c in hours["category"]], dtype=np.int64) if req.size else \
        np.zeros(0, np.int64)
    category = np.zeros((n, max(len(cat_ids), 1)))
    np.add.at(category, (idx, cpos), req)
    target_ids = {c for c, name in categories.items() if name in TARGET_CATEGORIES}
    is_target = np.isin(hours["category"], list(target_ids))
    hod = np.zeros((n, 24))
    np.add.at(hod, (idx, hours["hod"].astype(np.int64)), req)
    # Requests on a model in the hours after it first appeared (features.hour_facts).
    new_model = np.bincount(idx, weights=hours["new_model"].astype(np.float64), minlength=n) if \
        "new_model" in hours else np.zeros(n)
    ridx = universe.index_of(reqs["account_id"].astype(np.int64))
    proxied, foreign = np.zeros(n), np.zeros(n)
    np.add.at(proxied, ridx, reqs["proxied"].astype(np.float64))
    np.add.at(foreign, ridx, reqs["foreign"].astype(np.float64))
    days = np.zeros(n)
    np.maximum.at(days, idx, hours["days"].astype(np.float64))
    return AccountBehaviour(
        requests=np.bincount(idx, weights=req, minlength=n), target=np.bincount(idx, weights=req * is_target, minlength=n),
        reasoning=np.bincount(idx, weights=hours["reasoning"].astype(np.float64), minlength=n),
        tokens_out=np.bincount(idx, weights=hours["tokens_out"].astype(np.float64), minlength=n),
        days=np.maximum(days, 1), hod=hod, proxied=proxied, foreign=foreign, new_model=new_model,
        created=universe.created, category=category, category_names=[categories[c] for c in cat_ids],
    )


def _share(num: float, den: float) -> float:
    return float(num / den) if den > 0 else 0.0


def _lift(value: float, base: float) -> float:
    """How far ``value`` is above ``base`` on the way to 1."""
    return float(np.clip((value - base) / max(1e-9, 1 - base), 0, 1))


def _flatness(hod: np.ndarray) -> np.ndarray:
    """Normalised entropy of each row's hour-of-day histogram (1 = round the clock)."""
    total = hod.sum(axis=1, keepdims=True)
    p = np.divide(hod, total, out=np.zeros_like(hod), where=total > 0)
    ent = -(p * np.log(np.where(p > 0, p, 1))).sum(axis=1)
    return ent / np.log(24)


def score_group(members: np.ndarray, b: AccountBehaviour, base: np.ndarray, density: float) -> dict:
    """Score parts, total and headline figures for one group (indices into the universe)."""
    req = b.requests[members].sum()
    base_req = b.requests[base].sum()
    parts = {}
    parts["capability_focus"] = _lift(_share(b.target[members].sum(), req), _share(b.target[base].sum(), base_req))
    parts["reasoning_elicitation"] = float(np.clip(2 * _lift(_share(b.reasoning[members].sum(), req),
                                                             _share(b.reasoning[base].sum(), base_req)), 0, 1))
    per_day = b.tokens_out / b.days
    base_med = float(np.median(per_day[base])) if base.size else 0.0
    grp_med = float(np.median(per_day[members]))
    parts["token_harvest"] = float(np.clip(np.log10(max(grp_med, 1) / max(base_med, 1)), 0, 1))
    weights = b.requests[members]
    flat_m = float(np.average(_flatness(b.hod[members]), weights=weights)) if weights.sum() else 0.0
    flat_b = float(np.average(_flatness(b.hod[base]), weights=b.requests[base])) if base_req else 0.0
    parts["machine_rhythm"] = float(np.clip((flat_m - flat_b) / max(1e-9, 1 - flat_b) * 1.5, 0, 1))
    created = np.sort(b.created[members][b.created[members] > 0])
    if created.size >= 3:
        near = np.searchsorted(created, created + 3600) - np.searchsorted(created, created - 3600) - 1
        parts["signup_burst"] = float((near >= 2).mean())
    else:
        parts["signup_burst"] = 0.0
    parts["proxy_hosting"] = _lift(_share(b.proxied[members].sum(), req), _share(b.proxied[base].sum(), base_req))
    parts["geography_mismatch"] = _lift(_share(b.foreign[members].sum(), req), _share(b.foreign[base].sum(), base_req))
    new_m, new_b = _share(b.new_model[members].sum(), req), _share(b.new_model[base].sum(), base_req)
    parts["new_model_pivot"] = float(np.clip((new_m / new_b - 1) / 3, 0, 1)) if new_b > 0 else 0.0
    parts["coordination"] = float(np.clip(density, 0, 1))
    total = sum(WEIGHTS[k] * v for k, v in parts.items())
    return {
        "score": round(float(total), 4), "parts": {k: round(v, 3) for k, v in parts.items()},
        "figures": {
            "requests": int(req), "target_share": round(_share(b.target[members].sum(), req), 3),
            "baseline_target_share": round(_share(b.target[base].sum(), base_req), 3),
            "reasoning_share": round(_share(b.reasoning[members].sum(), req), 3),
            "baseline_reasoning_share": round(_share(b.reasoning[base].sum(), base_req), 3),
            "tokens_out_per_account_day": round(grp_med), "baseline_tokens_out_per_account_day": round(base_med),
            "flatness": round(flat_m, 3), "baseline_flatness": round(flat_b, 3),
            "proxied_share": round(_share(b.proxied[members].sum(), req), 3),
            "foreign_share": round(_share(b.foreign[members].sum(), req), 3),
            "new_model_share": round(new_m, 3), "baseline_new_model_share": round(new_b, 3),
        },
    }
