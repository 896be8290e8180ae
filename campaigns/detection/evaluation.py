"""Detection measured against a ground truth: per planted campaign, overall, hard negatives."""

from __future__ import annotations

from collections import defaultdict

from campaigns.models import Campaign, Membership

FLAGGING = [Campaign.Status.SUSPECTED, Campaign.Status.INVESTIGATING, Campaign.Status.CONFIRMED,
            Campaign.Status.MITIGATED]


def _prf(tp: int, flagged: int, planted: int) -> tuple[float, float, float]:
    p = tp / flagged if flagged else 0.0
    r = tp / planted if planted else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def current_campaigns() -> dict[int, set[str]]:
    out = defaultdict(set)
    rows = Membership.objects.filter(active=True, campaign__status__in=FLAGGING).values_list(
        "campaign_id", "account__account_id")
    for campaign_id, account in rows.iterator(chunk_size=20000):
        out[campaign_id].add(account)
    return out


def evaluate(truth: dict, campaigns: dict[int, set[str]] | None = None) -> dict:
    campaigns = current_campaigns() if campaigns is None else campaigns
    flagged = set().union(*campaigns.values()) if campaigns else set()
    planted = set()
    rows = []
    for c in truth["campaigns"]:
        members = set(c["accounts"])
        planted |= members
        best, best_f1, best_pr = None, 0.0, (0.0, 0.0)
        for cid, accounts in campaigns.items():
            tp = len(members & accounts)
            if tp:
                p, r, f1 = _prf(tp, len(accounts), len(members))
                if f1 > best_f1:
                    best, best_f1, best_pr = cid, f1, (p, r)
        rows.append({"id": c["id"], "kind": c.get("kind"), "accounts": len(members), "match": best,
                     "precision": round(best_pr[0], 4), "recall": round(best_pr[1], 4), "f1": round(best_f1, 4)})
    tp = len(flagged & planted)
    p, r, f1 = _prf(tp, len(flagged), len(planted))
    negatives = []
    for h in truth.get("hard_negatives", []):
        members = set(h["accounts"])
        hit = len(members & flagged)
        negatives.append({"id": h["id"], "kind": h.get("kind"), "accounts": len(members), "flagged": hit,
                          "share": round(hit / len(members), 4) if members else 0.0})
    return {"campaigns": rows, "hard_negatives": negatives,
            "overall": {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4), "flagged": len(flagged),
                        "true_positives": tp, "planted": len(planted), "campaigns": len(campaigns)}}
