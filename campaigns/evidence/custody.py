"""custody.jsonl: the campaign's chain of custody, one audit event per line.

Every link, unlink, status change, edit, note and export of the campaign up to the packet's
snapshot, oldest first. Each line carries ``prev``, the SHA-256 of the line before it (the
first carries 64 zeros), so a reader can check the order and completeness without Copycat;
the manifest names the hash of the last line. ``audit_hash`` is the event's hash in Copycat's
own audit chain, which the provider can check against its database.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from campaigns.evidence.redaction import Redactor
from campaigns.models import AuditEvent

GENESIS = "0" * 64


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def write_custody(path: Path, campaign_id: int, snapshot_event_id: int | None, redactor: Redactor) -> dict:
    """Write the chain; returns {"events": n, "head": hash of the last line}."""
    events = AuditEvent.objects.filter(campaign_id=campaign_id).order_by("id")
    if snapshot_event_id is not None:
        events = events.filter(id__lte=snapshot_event_id)
    prev, count = GENESIS, 0
    with open(path, "wb") as fh:
        for seq, event in enumerate(events.iterator(chunk_size=2000), 1):
            entry = {
                "seq": seq, "event_id": event.pk, "at": event.at.isoformat(), "actor": event.actor_name,
                "action": event.action, "object_type": event.object_type, "object_id": event.object_id,
                "reason": redactor.scrub(event.reason), "data": redactor.scrub_json(event.data),
                "audit_hash": event.hash, "prev": prev,
            }
            line = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            fh.write(line + b"\n")
            prev, count = line_hash(line), seq
    return {"events": count, "head": prev}


def check_custody(data: bytes, expected_head: str | None) -> list[str]:
    """Problems in a custody.jsonl (empty when the chain is whole)."""
    problems: list[str] = []
    prev = GENESIS
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except ValueError:
            problems.append(f"custody.jsonl line {number}: not valid JSON")
            prev = line_hash(line)
            continue
        if entry.get("prev") != prev:
            problems.append(f"custody.jsonl line {number}: its prev hash {str(entry.get('prev'))[:12]}… does not match "
                            f"the line before ({prev[:12]}…): a line before it was changed, removed or reordered")
        if entry.get("seq") != number:
            problems.append(f"custody.jsonl line {number}: sequence number {entry.get('seq')} where {number} belongs")
        prev = line_hash(line)
    if expected_head is not None and prev != expected_head:
        problems.append(f"custody.jsonl: the last line hashes to {prev[:12]}…, the manifest says {expected_head[:12]}… "
                        "(the log was changed, cut short or extended)")
    return problems
