"""Plain-language sentences: why a group is a campaign, and why each member is in it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from campaigns.detection.links import KIND_BY_CODE, KINDS, SYNC_BUCKET_S, SharedValues

PART_TEXT = {
    "capability_focus": "{target_share:.0%} of its requests target coding, agentic, tool-use and reasoning "
                        "capabilities (ordinary traffic: {baseline_target_share:.0%})",
    "reasoning_elicitation": "{reasoning_share:.0%} of its prompts ask for full step-by-step reasoning "
                             "(ordinary traffic: {baseline_reasoning_share:.0%})",
    "token_harvest": "a typical member harvests {tokens_out_per_account_day:,} output tokens a day "
                     "(ordinary account: {baseline_tokens_out_per_account_day:,})",
    "machine_rhythm": "activity is spread round the clock (flatness {flatness:.2f} against {baseline_flatness:.2f})",
    "proxy_hosting": "{proxied_share:.0%} of its requests come from hosting, proxy, VPN or Tor addresses",
    "geography_mismatch": "{foreign_share:.0%} of its requests come from a country other than the billing country",
    "new_model_pivot": "{new_model_share:.0%} of its traffic went to a newly released model "
                       "(ordinary traffic: {baseline_new_model_share:.0%})",
    "signup_burst": "many members signed up within an hour of each other",
    "coordination": "its members are densely linked to each other",
}


class Labeller:
    """Readable names for values: lookup ids become template hashes, buckets become times."""

    def __init__(self, templates: dict[int, str], clients: dict[int, str], systems: dict[int, str]):
        self.templates, self.clients, self.systems = templates, clients, systems

    def __call__(self, kind: str, raw: str) -> str:
        if kind == "template":
            return self.templates.get(int(raw), raw)
        if kind == "client":
            return self.clients.get(int(raw), raw)
        if kind == "system_prompt":
            return self.systems.get(int(raw), raw)
        if kind == "sync":
            tpl, bucket = raw.split("@")
            at = datetime.fromtimestamp(int(bucket) * SYNC_BUCKET_S, UTC).strftime("%Y-%m-%d %H:%M UTC")
            return f"{self.templates.get(int(tpl), tpl)} at {at}"
        if kind == "request_net":
            net, day = raw.split("@")
            return f"{net} on {datetime.fromtimestamp(int(day) * 86400, UTC).date()}"
        if kind == "signup_burst":
            grid, slot = raw[1:].split(":")
            start = int(slot) * 1800 - int(grid) * 900
            return datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return raw


def sentence(kind: str, label: str, members: int, total: int) -> str:
    phrase = KINDS[kind][2]
    if kind in ("template", "sync"):
        verb = "sent" if kind == "template" else "fired"
        others = total - members
        rest = "and no other account" if others == 0 else f"and {others:,} other account{'s' if others > 1 else ''}"
        return f"{verb} {phrase} {label}, used by {members:,} members {rest}"
    others = "" if total == members else f" ({total:,} accounts in all)"
    return f"shares {phrase} {label} with {members - 1:,} other members{others}"


def group_signals(members: np.ndarray, sv: SharedValues, label: Labeller, limit: int = 12) -> list[dict]:
    """The values most of the group shares, strongest first."""
    inside = np.isin(sv.acct, members)
    counts = np.bincount(sv.value[inside], minlength=sv.df.size)
    values = np.flatnonzero(counts >= 2)
    strength = counts[values] * sv.weight[values] * np.array([KINDS[KIND_BY_CODE[int(sv.kind[v])]][1] for v in values])
    out, per_kind = [], {}
    for v in values[np.argsort(-strength)]:
        kind = KIND_BY_CODE[int(sv.kind[v])]
        if per_kind.get(kind, 0) >= 3:
            continue
        per_kind[kind] = per_kind.get(kind, 0) + 1
        text = label(kind, str(sv.label[v]))
        out.append({"kind": kind, "value": text, "member_count": int(counts[v]), "total_count": int(sv.df[v]),
                    "weight": round(float(sv.weight[v]), 3),
                    "text": sentence(kind, text, int(counts[v]), int(sv.df[v]))})
        if len(out) >= limit:
            break
    return out


def member_signals(members: np.ndarray, sv: SharedValues, label: Labeller, per_member: int = 3) -> dict[int, list[dict]]:
    """For each member (universe index): its strongest values shared with other members."""
    inside = np.isin(sv.acct, members)
    a, v = sv.acct[inside], sv.value[inside]
    counts = np.bincount(v, minlength=sv.df.size)
    keep = counts[v] >= 2
    a, v = a[keep], v[keep]
    kw = np.array([KINDS[KIND_BY_CODE[int(k)]][1] for k in sv.kind[v]]) if v.size else np.zeros(0)
    strength = sv.weight[v] * kw * np.log1p(counts[v])
    order = np.lexsort((-strength, a))
    a, v = a[order], v[order]
    out: dict[int, list[dict]] = {}
    seen_kinds: dict[int, set] = {}
    for acct, val in zip(a.tolist(), v.tolist()):
        lst = out.setdefault(acct, [])
        kind = KIND_BY_CODE[int(sv.kind[val])]
        kinds = seen_kinds.setdefault(acct, set())
        if len(lst) >= per_member or kind in kinds:
            continue
        kinds.add(kind)
        text = label(kind, str(sv.label[val]))
        lst.append({"kind": kind, "value": text, "shared_with": int(counts[val]) - 1,
                    "weight": round(float(sv.weight[val]), 3),
                    "text": sentence(kind, text, int(counts[val]), int(sv.df[val]))})
    return out


def campaign_text(size: int, scored: dict, signals: list[dict]) -> str:
    figures = scored["figures"]
    parts = sorted(scored["parts"].items(), key=lambda kv: -kv[1])
    reasons = [PART_TEXT[k].format(**figures) for k, v in parts if v >= 0.3][:5]
    links = "; ".join(s["text"] for s in signals[:4])
    text = f"{size:,} accounts act as one (score {scored['score']:.2f})."
    if links:
        text += f" Linked because members {links}."
    if reasons:
        text += " Behaviour: " + "; ".join(reasons) + "."
    return text
