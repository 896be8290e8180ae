"""Campaign writes: linking, unlinking, status, edits, notes. Pages, API and detection call
these; each checks the actor's role and appends to the audit trail in the same transaction."""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account
from campaigns import audit
from campaigns.errors import Conflict, InvalidInput
from campaigns.models import Campaign, Membership, Note
from copycat import roles

logger = logging.getLogger(__name__)

EDITABLE_FIELDS = ("name", "severity", "assignee", "summary", "attribution")


def _reason(reason: str | None, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(f"Give a reason for {what}: it goes into the audit trail and the evidence packet.")
    if len(reason) > 2000:
        raise InvalidInput("The reason is longer than 2,000 characters; shorten it.")
    return reason


def link_account(campaign: Campaign, account: Account, *, user, reason: str) -> Membership:
    """An analyst links ``account`` to ``campaign`` (re-links it if it was unlinked)."""
    roles.require(user, "link")
    reason = _reason(reason, "linking an account")
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(campaign=campaign, account=account).first()
        if membership and membership.active:
            raise Conflict(f"{account.account_id} is already a member of campaign {campaign.pk}.")
        if membership is None:
            membership = Membership(campaign=campaign, account=account)
        membership.active = True
        membership.source = Membership.Source.ANALYST
        membership.confidence = 1.0
        membership.reason = reason
        membership.added_by = user
        membership.added_at = timezone.now()
        membership.removed_by, membership.removed_at, membership.removed_reason = None, None, ""
        membership.save()
        audit.record("membership.link", actor=user, object_type="account", object_id=account.account_id,
                     campaign=campaign, reason=reason, data={"source": "analyst"})
        refresh_figures(campaign)
    return membership


def unlink_account(campaign: Campaign, account: Account, *, user, reason: str) -> Membership:
    """Remove a member; the row stays with who, when and why, and detection will not re-add it."""
    roles.require(user, "unlink")
    reason = _reason(reason, "unlinking an account")
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(campaign=campaign, account=account).first()
        if membership is None or not membership.active:
            raise Conflict(f"{account.account_id} is not a member of campaign {campaign.pk}.")
        membership.active = False
        membership.removed_by = user
        membership.removed_at = timezone.now()
        membership.removed_reason = reason
        membership.save()
        audit.record("membership.unlink", actor=user, object_type="account", object_id=account.account_id,
                     campaign=campaign, reason=reason, data={"was_source": membership.source})
        refresh_figures(campaign)
    return membership


def change_status(campaign: Campaign, status: str, *, user, reason: str) -> Campaign:
    if status not in Campaign.Status.values:
        raise InvalidInput(f"Unknown status {status!r}; use one of: {', '.join(Campaign.Status.values)}.")
    roles.require(user, f"status_{status}")
    reason = _reason(reason, "a status change")
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status == status:
            raise Conflict(f"Campaign {campaign.pk} is already {status}.")
        before = campaign.status
        campaign.status = status
        campaign.save(update_fields=["status", "updated_at"])
        audit.record("campaign.status", actor=user, object_type="campaign", object_id=campaign.pk,
                     campaign=campaign, reason=reason, data={"from": before, "to": status})
    return campaign


def update_campaign(campaign: Campaign, *, user, reason: str = "", **changes) -> Campaign:
    """Change name, severity, assignee, summary or attribution."""
    roles.require(user, "edit_campaign")
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    if "severity" in changes and changes["severity"] not in Campaign.Severity.values:
        raise InvalidInput(f"Unknown severity {changes['severity']!r}; use one of: "
                           f"{', '.join(Campaign.Severity.values)}.")
    if "name" in changes and not (changes["name"] or "").strip():
        raise InvalidInput("A campaign needs a name.")
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        diff = {}
        for field, value in changes.items():
            old = getattr(campaign, field)
            if old != value:
                diff[field] = {"from": getattr(old, "pk", old), "to": getattr(value, "pk", value)}
                setattr(campaign, field, value)
        if not diff:
            return campaign
        campaign.save()
        audit.record("campaign.update", actor=user, object_type="campaign", object_id=campaign.pk,
                     campaign=campaign, reason=reason, data=diff)
    return campaign


def add_note(campaign: Campaign, *, user, text: str) -> Note:
    roles.require(user, "note")
    text = (text or "").strip()
    if not text:
        raise InvalidInput("A note needs some text.")
    if len(text) > 20000:
        raise InvalidInput("A note is limited to 20,000 characters.")
    with transaction.atomic():
        note = Note.objects.create(campaign=campaign, author=user, text=text)
        audit.record("note.add", actor=user, object_type="note", object_id=note.pk, campaign=campaign,
                     data={"text": text})
    return note


def refresh_figures(campaign: Campaign) -> None:
    """Recompute one campaign's headline figures and campaign_hour rollup."""
    refresh_figures_of([campaign.pk])


def refresh_figures_of(campaign_ids: list[int]) -> None:
    """Headline figures and the campaign_hour rollup of several campaigns, in three statements.

    One pass over the members' account_hour rows for all of them. ``accounts`` is count(*): the
    rollup's key holds each account once per hour, model and category, so no DISTINCT (and its
    sort) is needed; the tokens come from the fresh rollup instead of a second pass.
    """
    if not campaign_ids:
        return
    ids = sorted(set(campaign_ids))
    with connection.cursor() as cur:
        # The aggregate's groups (hours x models x categories per campaign) fit in memory then.
        cur.execute("SELECT set_config('work_mem', '64MB', true)")
        cur.execute("DELETE FROM campaign_hour WHERE campaign_id = ANY(%s)", [ids])
        cur.execute("""
            INSERT INTO campaign_hour (campaign_id, hour, model_id, category_id, requests, input_tokens,
                                       output_tokens, reasoning_requests, accounts)
            SELECT m.campaign_id, h.hour, h.model_id, h.category_id, sum(h.requests), sum(h.input_tokens),
                   sum(h.output_tokens), sum(h.reasoning_requests), count(*)
            FROM membership m JOIN account_hour h ON h.account_id = m.account_id
            WHERE m.campaign_id = ANY(%s) AND m.active
            GROUP BY 1, 2, 3, 4
        """, [ids])
        cur.execute("""
            UPDATE campaign c
            SET member_count = coalesce(f.members, 0), request_count = coalesce(f.requests, 0),
                first_activity = f.first, last_activity = f.last,
                tokens_in = coalesce(t.tokens_in, 0), tokens_out = coalesce(t.tokens_out, 0)
            FROM campaign ids
            LEFT JOIN (SELECT m.campaign_id, count(*) AS members, sum(a.request_count) AS requests,
                              min(a.first_request_at) AS first, max(a.last_request_at) AS last
                       FROM membership m JOIN account a ON a.id = m.account_id
                       WHERE m.campaign_id = ANY(%(ids)s) AND m.active GROUP BY 1) f ON f.campaign_id = ids.id
            LEFT JOIN (SELECT campaign_id, sum(input_tokens) AS tokens_in, sum(output_tokens) AS tokens_out
                       FROM campaign_hour WHERE campaign_id = ANY(%(ids)s) GROUP BY 1) t ON t.campaign_id = ids.id
            WHERE ids.id = ANY(%(ids)s) AND c.id = ids.id
        """, {"ids": ids})
    for campaign_id in ids:
        transaction.on_commit(lambda pk=campaign_id: queue_warm(pk))


def queue_warm(campaign_id: int) -> None:
    """Queue the task that fills the campaign's read caches (campaigns.selectors.warm). A bulk
    link calls this once per account: one task per few seconds is enough, since the task reads
    the figures as they are when it runs. A broker that cannot take it only costs speed."""
    from django.core.cache import cache

    from campaigns.tasks import detect_warm_campaign

    try:
        if cache.add(f"campaign-warm-queued:{campaign_id}", 1, WARM_DEBOUNCE_SECONDS):
            detect_warm_campaign.apply_async((campaign_id,), countdown=WARM_DEBOUNCE_SECONDS)
    except Exception:
        logger.warning("could not queue the cache warm-up of campaign %d", campaign_id, exc_info=True)


# Changes within this many seconds share one warm-up, which starts after them.
WARM_DEBOUNCE_SECONDS = 3
