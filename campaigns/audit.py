"""The audit trail: append-only, hash-chained record of every change.

Each event's hash covers its content and the previous event's hash; an advisory lock
serialises writers so the chain has no forks. ``verify_chain`` recomputes it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import AuditEvent

GENESIS = "0" * 64
_AUDIT_LOCK = 0x41756474  # "Audt"


def _canonical(event: dict) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), default=str).encode()


def _content(at: datetime, actor_name: str, action: str, object_type: str, object_id: str,
             campaign_id: int | None, reason: str, data: dict, prev_hash: str) -> dict:
    return {"at": at.isoformat(), "actor": actor_name, "action": action, "object_type": object_type,
            "object_id": str(object_id), "campaign": campaign_id, "reason": reason, "data": data, "prev": prev_hash}


def event_hash(event: AuditEvent) -> str:
    content = _content(event.at, event.actor_name, event.action, event.object_type, event.object_id,
                       event.campaign_id, event.reason, event.data, event.prev_hash)
    return hashlib.sha256(_canonical(content)).hexdigest()


def record(action: str, *, actor=None, object_type: str, object_id, campaign=None, reason: str = "",
           data: dict | None = None) -> AuditEvent:
    """Append one event. ``actor`` None means the system (detection, scheduled jobs)."""
    data = json.loads(json.dumps(data or {}, default=str))
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_AUDIT_LOCK])
        prev = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or GENESIS
        event = AuditEvent(
            at=timezone.now(), actor=actor if actor is not None and actor.is_authenticated else None,
            actor_name=actor.get_username() if actor is not None and actor.is_authenticated else "system",
            action=action, object_type=object_type, object_id=str(object_id),
            campaign_id=campaign.pk if campaign is not None else None, reason=reason or "", data=data,
            prev_hash=prev,
        )
        event.hash = event_hash(event)
        event.save(force_insert=True)
        return event


def verify_chain(batch: int = 5000) -> list[str]:
    """Problems found in the chain (empty when intact), walking by id ranges."""
    problems: list[str] = []
    prev, last_id = GENESIS, 0
    while True:
        events = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:batch])
        if not events:
            return problems
        for event in events:
            if event.prev_hash != prev:
                problems.append(f"event {event.pk}: links to {event.prev_hash[:12]}…, expected {prev[:12]}… "
                                "(an event before it was changed or removed)")
            if event_hash(event) != event.hash:
                problems.append(f"event {event.pk}: its content does not match its hash (it was changed)")
            prev, last_id = event.hash, event.pk
