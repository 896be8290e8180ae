"""Detected groups meet existing campaigns: identity across runs, analysts' decisions win.

- A group that overlaps an existing campaign is that campaign (it keeps its id and name as it
  grows); new accounts are added, with one audit event per campaign per run.
- An account an analyst unlinked (``removed_by`` set) is never re-added by detection.
- An analyst-added member is never removed; detection removes only its own members, and only
  while the campaign is still ``suspected``.
- A group that matches a dismissed campaign is dropped: it does not come back under a new name.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from campaigns import audit
from campaigns.models import Campaign, DetectionRun, Membership, Signal

MATCH_SHARE = 0.3  # overlap over the smaller side that makes a group an existing campaign


@dataclass
class DetectedGroup:
    accounts: list[int]                    # account.id
    score: float
    breakdown: dict
    explanation: str
    signals: list[dict]
    members: dict[int, dict] = field(default_factory=dict)  # account.id -> {confidence, signals, explanation}
    name_hint: str = ""


def _existing() -> tuple[dict[int, set[int]], dict[int, set[int]], set[int]]:
    everyone, active = defaultdict(set), defaultdict(set)
    vetoed = set()
    rows = Membership.objects.values_list("campaign_id", "account_id", "active", "removed_by_id")
    for campaign_id, account_id, is_active, removed_by in rows.iterator(chunk_size=20000):
        everyone[campaign_id].add(account_id)
        if is_active:
            active[campaign_id].add(account_id)
        elif removed_by is not None:
            vetoed.add(account_id)
    return everyone, active, vetoed


def _match(group: set[int], everyone: dict[int, set[int]], taken: set[int]) -> int | None:
    best, best_share = None, 0.0
    for campaign_id, members in everyone.items():
        if campaign_id in taken or not members:
            continue
        overlap = len(group & members)
        share = overlap / min(len(group), len(members))
        if share >= MATCH_SHARE and share > best_share:
            best, best_share = campaign_id, share
    return best


def _membership(campaign: Campaign, run: DetectionRun, account_id: int, info: dict) -> Membership:
    return Membership(campaign=campaign, account_id=account_id, active=True, source=Membership.Source.DETECTION,
                      detection_run=run, confidence=info.get("confidence", 0.5), signals=info.get("signals", []),
                      explanation=info.get("explanation", ""))


def _write_signals(campaign: Campaign, signals: list[dict]) -> None:
    Signal.objects.filter(campaign=campaign).delete()
    Signal.objects.bulk_create([Signal(campaign=campaign, kind=s["kind"], value=s["value"][:2000],
                                       member_count=s["member_count"], total_count=s["total_count"],
                                       weight=s["weight"], text=s["text"]) for s in signals])


def reconcile(run: DetectionRun, groups: list[DetectedGroup]) -> dict:
    """Apply groups to campaigns; return counts (created, updated, added, removed, suppressed)."""
    from campaigns.services import refresh_figures

    everyone, active, vetoed = _existing()
    counts = {"created": 0, "updated": 0, "added": 0, "removed": 0, "suppressed_dismissed": 0, "vetoed_skipped": 0}
    taken: set[int] = set()
    touched: list[Campaign] = []
    for group in sorted(groups, key=lambda g: -len(g.accounts)):
        accounts = set(group.accounts)
        campaign_id = _match(accounts, everyone, taken)
        with transaction.atomic():
            if campaign_id is not None:
                taken.add(campaign_id)
                campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
                if campaign.status == Campaign.Status.DISMISSED:
                    counts["suppressed_dismissed"] += 1
                    continue
                _update(run, campaign, group, accounts, active[campaign_id], vetoed, counts)
            else:
                campaign = _create(run, group, accounts - vetoed, counts)
                counts["vetoed_skipped"] += len(accounts & vetoed)
            touched.append(campaign)
            refresh_figures(campaign)
    return counts


def _create(run: DetectionRun, group: DetectedGroup, accounts: set[int], counts: dict) -> Campaign:
    campaign = Campaign.objects.create(
        name="pending", status=Campaign.Status.SUSPECTED, score=group.score, score_breakdown=group.breakdown,
        explanation=group.explanation, summary=group.explanation, created_by_run=run, last_run=run,
        severity=_severity(group.score, len(accounts)),
    )
    campaign.name = f"Suspected campaign {campaign.pk}" + (f": {group.name_hint}" if group.name_hint else "")
    campaign.save(update_fields=["name"])
    Membership.objects.bulk_create([_membership(campaign, run, a, group.members.get(a, {})) for a in sorted(accounts)],
                                   batch_size=5000)
    _write_signals(campaign, group.signals)
    audit.record("detection.campaign_created", object_type="campaign", object_id=campaign.pk, campaign=campaign,
                 reason=f"detection run {run.pk}", data={"run": run.pk, "added": _names(accounts),
                                                          "score": group.score})
    counts["created"] += 1
    counts["added"] += len(accounts)
    return campaign


def _update(run, campaign: Campaign, group: DetectedGroup, accounts: set[int], current: set[int],
            vetoed: set[int], counts: dict) -> None:
    rows = {m.account_id: m for m in Membership.objects.filter(campaign=campaign)}
    add = [a for a in accounts - current if a not in vetoed and (a not in rows or rows[a].removed_by_id is None)]
    remove = []
    if campaign.status == Campaign.Status.SUSPECTED:
        remove = [a for a in current - accounts if rows[a].source == Membership.Source.DETECTION]
    now = timezone.now()
    new_rows, back = [], []
    for a in add:
        if a in rows:  # detection had dropped it earlier; it is linked again
            m = rows[a]
            m.active, m.detection_run, m.removed_at, m.removed_reason = True, run, None, ""
            info = group.members.get(a, {})
            m.confidence, m.signals, m.explanation = info.get("confidence", 0.5), info.get("signals", []), \
                info.get("explanation", "")
            back.append(m)
        else:
            new_rows.append(_membership(campaign, run, a, group.members.get(a, {})))
    Membership.objects.bulk_create(new_rows, batch_size=5000)
    Membership.objects.bulk_update(back, ["active", "detection_run", "removed_at", "removed_reason", "confidence",
                                          "signals", "explanation"], batch_size=5000)
    if remove:
        Membership.objects.filter(campaign=campaign, account_id__in=remove).update(
            active=False, removed_at=now, removed_reason=f"detection run {run.pk} no longer links it")
    stay = [rows[a] for a in accounts & current if rows[a].source == Membership.Source.DETECTION]
    for m in stay:
        info = group.members.get(m.account_id, {})
        m.confidence, m.signals, m.explanation = info.get("confidence", m.confidence), \
            info.get("signals", m.signals), info.get("explanation", m.explanation)
    Membership.objects.bulk_update(stay, ["confidence", "signals", "explanation"], batch_size=5000)
    Campaign.objects.filter(pk=campaign.pk).update(score=group.score, score_breakdown=group.breakdown,
                                                   explanation=group.explanation, last_run=run)
    _write_signals(campaign, group.signals)
    if add or remove:
        audit.record("detection.campaign_updated", object_type="campaign", object_id=campaign.pk, campaign=campaign,
                     reason=f"detection run {run.pk}",
                     data={"run": run.pk, "added": _names(add), "removed": _names(remove), "score": group.score})
    counts["updated"] += 1
    counts["added"] += len(add)
    counts["removed"] += len(remove)


def _names(account_pks) -> list[str]:
    from accounts.models import Account

    return sorted(Account.objects.filter(pk__in=list(account_pks)).values_list("account_id", flat=True))


def _severity(score: float, size: int) -> str:
    if score >= 0.6 or size >= 1000:
        return Campaign.Severity.CRITICAL
    if score >= 0.45 or size >= 100:
        return Campaign.Severity.HIGH
    return Campaign.Severity.MEDIUM
