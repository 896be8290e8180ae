"""Evidence packets: request one (role checks, audit, queue), run one (claim, progress,
atomic write), or build one in the foreground (the command and tests).

A packet shows the campaign as of a snapshot: the last audit event of the campaign when it was
requested. Custody and notes stop there, and nothing in the files names the packet or its
build time (only manifest.json does), so two packets of one snapshot hold identical files.
Membership and request data are read as they are at build time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

import copycat
from campaigns import audit
from campaigns.errors import InvalidInput
from campaigns.evidence import csvs, custody, report, signing, stix
from campaigns.evidence import manifest as manifest_mod
from campaigns.evidence.redaction import HEX, Redactor
from campaigns.models import AuditEvent, Campaign, EvidencePacket, Membership, Signal
from copycat import db, roles

logger = logging.getLogger(__name__)

# Held by the worker that claimed a packet until its build ends (see copycat.db.JobLock).
PACKET_LOCK = db.JobLock(0x50636B74)
STALE_AFTER = timedelta(minutes=10)  # a running packet without heartbeat this long was abandoned
HEARTBEAT_EVERY = 2.0  # seconds between progress writes
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed entry times: the same files give the same ZIP
Progress = Callable[[str, float], None]


def public_key_pem() -> str:
    """The PEM public key that checks this server's packet signatures."""
    return signing.public_key_pem()


def snapshot_of(campaign: Campaign) -> int | None:
    return AuditEvent.objects.filter(campaign_id=campaign.pk).order_by("-id").values_list("id", flat=True).first()


# --- requesting ---------------------------------------------------------------------------
def _check(user, redacted: bool, reason: str) -> str:
    roles.require(user, "export_packet")
    reason = (reason or "").strip()
    if not redacted:
        roles.require(user, "export_unredacted")
        if not reason:
            raise InvalidInput("A packet with personal data in clear needs a reason: it goes into the audit trail "
                               "and the packet itself.")
    return reason


def _create(campaign: Campaign, *, user, redacted: bool, reason: str) -> EvidencePacket:
    with transaction.atomic():
        snapshot = snapshot_of(campaign)
        packet = EvidencePacket.objects.create(
            campaign=campaign, redacted=redacted, reason=reason, snapshot_event_id=snapshot,
            requested_by=user if user is not None and user.is_authenticated else None, phase="queued")
        audit.record("packet.request", actor=user, object_type="evidence_packet", object_id=packet.pk,
                     campaign=campaign, reason=reason,
                     data={"redacted": redacted, "snapshot_event_id": snapshot})
    return packet


def request_packet(campaign: Campaign, *, user, redacted: bool = True, reason: str = "") -> EvidencePacket:
    """Queue a packet for ``campaign`` (queue ``export``); progress shows on the returned row.

    Needs the lead role; a packet with personal data in clear (``redacted=False``) also needs
    a reason. The request is recorded in the audit trail, so it appears in later packets' custody.
    """
    reason = _check(user, redacted, reason)
    packet = _create(campaign, user=user, redacted=redacted, reason=reason)
    from campaigns import tasks

    transaction.on_commit(lambda: tasks.export_packet.delay(packet.pk))
    return packet


def export_now(campaign: Campaign, out_path: Path, *, user=None, redacted: bool = True,
               reason: str = "") -> EvidencePacket:
    """The foreground way (the command): record the request, build into ``out_path``, finish.

    ``user`` None means the operator at the server's shell, who may export redacted packets;
    a packet in clear always needs a named user with the lead role and a reason.
    """
    if user is not None or not redacted:
        if user is None:
            raise InvalidInput("A packet with personal data in clear needs --user (a lead) and --reason.")
        reason = _check(user, redacted, reason)
    packet = _create(campaign, user=user, redacted=redacted, reason=(reason or "").strip())
    with _claimed(packet.pk) as ours:
        if not ours:
            raise RuntimeError(f"packet {packet.pk} was claimed by another worker")
        _run(packet.pk, Path(out_path))
    packet.refresh_from_db()
    return packet


# --- running ------------------------------------------------------------------------------
def _claimed(packet_id: int) -> AbstractContextManager[bool]:
    """Hold the packet and its lock while inside (yields False if they were not ours): a packet
    whose heartbeat is stale while its worker still lives is not taken over."""
    def take() -> bool:
        now = timezone.now()
        free = Q(status=EvidencePacket.Status.QUEUED) | Q(status=EvidencePacket.Status.RUNNING,
                                                            heartbeat_at__lt=now - STALE_AFTER)
        return EvidencePacket.objects.filter(free, pk=packet_id).update(
            status=EvidencePacket.Status.RUNNING, started_at=now, heartbeat_at=now, phase="starting", progress=0.0,
            error="") == 1

    return PACKET_LOCK.claimed(packet_id, take)


def _progress_writer(packet_id: int) -> Progress:
    last = [0.0]

    def report_progress(phase: str, fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] < HEARTBEAT_EVERY and fraction < 1.0:
            return
        last[0] = now
        EvidencePacket.objects.filter(pk=packet_id).update(phase=phase, progress=round(min(fraction, 1.0), 4),
                                                           heartbeat_at=timezone.now())

    return report_progress


def execute_packet(packet_id: int) -> EvidencePacket | None:
    """Build a queued packet (the Celery task). Claims the row by a conditional UPDATE, so a
    redelivered task never builds the same packet twice at once; a stale run is taken over."""
    if not EvidencePacket.objects.filter(pk=packet_id).exists():
        logger.info("export_packet: packet %d no longer exists; skipping", packet_id)
        return None
    with _claimed(packet_id) as ours:
        if not ours:
            logger.info("export_packet: packet %d is taken or finished; skipping", packet_id)
            return None
        packet = EvidencePacket.objects.get(pk=packet_id)
        out = Path(settings.EVIDENCE_DIR) / f"packet-{packet.pk:06d}-campaign-{packet.campaign_id}.zip"
        _run(packet_id, out)
    return EvidencePacket.objects.get(pk=packet_id)


def _run(packet_id: int, out: Path) -> None:
    packet = EvidencePacket.objects.select_related("requested_by").get(pk=packet_id)
    try:
        built = build_packet(packet.campaign_id, out, redacted=packet.redacted, actor=packet.requested_by,
                             reason=packet.reason, snapshot_event_id=packet.snapshot_event_id, packet_id=packet.pk,
                             progress=_progress_writer(packet.pk))
    except OperationalError:
        # Transient (database went away): put it back for the task's retry.
        EvidencePacket.objects.filter(pk=packet_id).update(status=EvidencePacket.Status.QUEUED, phase="retrying")
        raise
    except Exception as exc:
        logger.exception("export_packet: packet %d failed", packet_id)
        EvidencePacket.objects.filter(pk=packet_id).update(
            status=EvidencePacket.Status.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now(),
            heartbeat_at=timezone.now())
        audit.record("packet.failed", object_type="evidence_packet", object_id=packet_id, campaign=packet.campaign,
                     data={"error": f"{type(exc).__name__}: {exc}"[:500]})
        if isinstance(exc, (InvalidInput, Campaign.DoesNotExist)):
            return
        raise
    sha, size = _file_digest(out)
    EvidencePacket.objects.filter(pk=packet_id).update(
        status=EvidencePacket.Status.DONE, phase="done", progress=1.0, path=str(out), sha256=sha, size_bytes=size,
        manifest=built, finished_at=timezone.now(), heartbeat_at=timezone.now())
    audit.record("packet.built", object_type="evidence_packet", object_id=packet_id, campaign=packet.campaign,
                 data={"sha256": sha, "size_bytes": size, "redacted": packet.redacted,
                       "manifest_sha256": hashlib.sha256(manifest_mod.dumps(built)).hexdigest(),
                       "snapshot_event_id": packet.snapshot_event_id})


def _file_digest(path: Path) -> tuple[str, int]:
    entry = manifest_mod.file_entry(path, path.name)
    return entry["sha256"], entry["size"]


# --- building -----------------------------------------------------------------------------
def build_packet(campaign_id: int, out_path, *, redacted: bool = True, actor=None, reason: str = "",
                 snapshot_event_id: int | None = None, packet_id: int | None = None,
                 progress: Progress | None = None) -> dict:
    """Write the packet for ``campaign_id`` to ``out_path`` (atomically) and return its manifest.

    No role checks and no audit here: callers (``request_packet``, ``export_now``) do those.
    ``snapshot_event_id`` None means the campaign as of its latest audit event.
    """
    progress = progress or (lambda phase, fraction: None)
    out_path = Path(out_path)
    campaign = Campaign.objects.select_related("assignee").get(pk=campaign_id)
    if snapshot_event_id is None:
        snapshot_event_id = snapshot_of(campaign)
    snapshot = AuditEvent.objects.filter(pk=snapshot_event_id).first() if snapshot_event_id else None
    snapshot_at = snapshot.at if snapshot else campaign.created_at
    redactor = Redactor.for_packet(redacted)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    work = out_path.parent / f".{out_path.name}.parts-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    try:
        manifest = _build_files(work, campaign, redactor, reason, snapshot_event_id, snapshot, snapshot_at, progress)
        manifest.update({
            "packet_id": packet_id, "created_at": timezone.now().isoformat(),
            "created_by": actor.get_username() if actor is not None and actor.is_authenticated else "system",
        })
        progress("zip", 0.97)
        _write_zip(work, manifest, out_path)
        progress("done", 1.0)
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build_files(work: Path, campaign: Campaign, redactor: Redactor, reason: str, snapshot_event_id,
                 snapshot, snapshot_at, progress: Progress) -> dict:
    scope = csvs.scope_for(campaign.pk)
    with csvs.MemberTraffic(scope, redactor) as traffic:
        # Grouping the members' requests takes one core for a while; the files below do not
        # need it, so they are written meanwhile.
        traffic.start(work / "infrastructure.csv")
        progress("members", 0.02)
        csvs.write_members(work / "members.csv", scope, redactor)
        csvs.write_api_keys(work / "api_keys.csv", scope, redactor)
        _write_signals(work / "signals.json", campaign, redactor)
        progress("sessions", 0.06)
        csvs.write_sessions(work / "sessions.csv", scope, redactor)
        progress("timeline", 0.1)
        csvs.write_timeline(work / "timeline_hourly.csv", scope, redactor)
        csvs.write_prompts(work / "prompt_excerpts.csv", scope, redactor)
        progress("custody", 0.12)
        chain = custody.write_custody(work / "custody.jsonl", campaign.pk, snapshot_event_id, redactor)
        progress("requests", 0.14)
        csvs.write_requests(work / "requests.csv.gz", scope, redactor,
                            progress=lambda f: progress("requests", 0.14 + 0.69 * f))
        progress("infrastructure", 0.83)
        traffic.finish_infrastructure()

    figures = _figures(campaign, work)
    progress("report", 0.85)
    html = report.render_html(campaign=campaign, scope=scope, redactor=redactor, reason=reason,
                              snapshot_event_id=snapshot_event_id, snapshot_at=snapshot_at,
                              infra_csv=work / "infrastructure.csv", figures=figures)
    (work / "report.html").write_text(html, encoding="utf-8")
    progress("pdf", 0.88)
    report.write_pdf(html, work / "report.pdf")
    progress("stix", 0.95)
    accounts = list(Membership.objects.filter(campaign=campaign, active=True)
                    .order_by("account__account_id").values_list("account__account_id", flat=True))
    bundle = stix.build_bundle(campaign=campaign, snapshot_at=snapshot_at, window=(scope.start, scope.end),
                               infra=stix.shared_infrastructure(work / "infrastructure.csv"), accounts=accounts,
                               total_requests=figures["requests"], redactor=redactor)
    stix.write_bundle(work / "stix-bundle.json", bundle)
    (work / manifest_mod.PUBLIC_KEY).write_text(public_key_pem())
    shutil.copyfile(Path(__file__).with_name("README.txt"), work / "README.txt")

    files = [manifest_mod.file_entry(p, p.name) for p in sorted(work.iterdir())]
    return {
        "format": manifest_mod.FORMAT,
        "software": f"copycat {copycat.__version__}",
        "campaign": {
            "id": campaign.pk, "name": campaign.name, "status": campaign.status, "severity": campaign.severity,
            "attribution": redactor.scrub(campaign.attribution), "score": round(campaign.score, 6),
            "member_accounts": len(scope.account_ids), "requests": figures["requests"],
        },
        "snapshot": {"audit_event_id": snapshot_event_id, "audit_event_hash": snapshot.hash if snapshot else None,
                     "at": snapshot_at.isoformat()},
        "window": {"start": scope.start.isoformat() if scope.start else None,
                   "end": scope.end.isoformat() if scope.end else None},
        "redaction": {"mode": "on" if redactor.enabled else "off",
                      "method": f"HMAC-SHA256, first {HEX} hex digits; networks /24 (IPv4) and /48 (IPv6) hashed apart",
                      "reason": "" if redactor.enabled else redactor.scrub(reason)},
        "signing": {"algorithm": "Ed25519", "public_key_file": manifest_mod.PUBLIC_KEY,
                    "public_key_sha256": signing.fingerprint(public_key_pem()), "signature_file": manifest_mod.SIGNATURE},
        "custody": {"file": "custody.jsonl", "events": chain["events"], "head": chain["head"]},
        "files": files,
    }


def _figures(campaign: Campaign, work: Path) -> dict:
    """The report's figures, from the files already written (never the big tables again)."""
    timeline = csvs.read_timeline(work / "timeline_hourly.csv")
    memberships = Membership.objects.filter(campaign=campaign)
    return {"requests": sum(r.requests for r in timeline), "tokens_in": sum(r.input_tokens for r in timeline),
            "tokens_out": sum(r.output_tokens for r in timeline), "timeline": timeline,
            "members_total": memberships.count(),
            "members_removed": memberships.filter(active=False).count(),
            "prompts": csvs.prompt_samples(work / "prompt_excerpts.csv", limit=20)}


def _write_signals(path: Path, campaign: Campaign, redactor: Redactor) -> None:
    """Why each account is in: its signals, confidence, and who added it (streamed per member)."""
    with open(path, "w", encoding="utf-8") as fh:
        head = {"campaign": campaign.pk, "explanation": redactor.scrub(campaign.explanation),
                "score_breakdown": redactor.scrub_json(campaign.score_breakdown),
                "shared_signals": [{"kind": s.kind, "value": redactor.scrub(s.value), "member_count": s.member_count,
                                    "total_count": s.total_count, "weight": s.weight, "text": redactor.scrub(s.text)}
                                   for s in Signal.objects.filter(campaign=campaign).order_by("-weight", "kind", "value")]}
        fh.write(json.dumps(head, sort_keys=True, ensure_ascii=False)[:-1] + ', "members": [\n')
        rows = (Membership.objects.filter(campaign=campaign).select_related("account", "added_by", "removed_by")
                .order_by("account__account_id"))
        for i, m in enumerate(rows.iterator(chunk_size=2000)):
            entry = {"account_id": m.account.account_id, "active": m.active, "source": m.source,
                     "confidence": m.confidence, "detection_run": m.detection_run_id,
                     "explanation": redactor.scrub(m.explanation), "reason": redactor.scrub(m.reason),
                     "signals": redactor.scrub_json(m.signals),
                     "added_by": m.added_by.get_username() if m.added_by else None,
                     "removed_by": m.removed_by.get_username() if m.removed_by else None,
                     "removed_reason": redactor.scrub(m.removed_reason)}
            fh.write(("" if i == 0 else ",\n") + json.dumps(entry, sort_keys=True, ensure_ascii=False))
        fh.write("\n]}\n")


def _write_zip(work: Path, manifest: dict, out_path: Path) -> None:
    """manifest.json first, its signature, then every file in name order, all with fixed
    times and modes; written to a temporary name and renamed, so a reader never sees half."""
    raw = manifest_mod.dumps(manifest)
    signature = signing.sign(raw)
    tmp = out_path.with_name(f".{out_path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    try:
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
            zf.writestr(_entry(manifest_mod.MANIFEST), raw)
            zf.writestr(_entry(manifest_mod.SIGNATURE, stored=True), signature)
            for entry in manifest["files"]:
                name = entry["path"]
                stored = name.endswith((".gz", ".pdf"))  # already compressed
                with open(work / name, "rb") as src, zf.open(_entry(name, stored), "w", force_zip64=True) as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _entry(name: str, stored: bool = False) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    info.create_system = 3
    return info


# --- reaping ------------------------------------------------------------------------------
def reap_stale_packets(older_than: float | None = None) -> list[int]:
    """Packets to send to a worker again: those whose worker died, and queued ones whose message was lost.

    A running packet whose heartbeat is older than ``older_than`` seconds (default STALE_AFTER)
    is recorded as interrupted in the audit trail (so the campaign's history shows it), its
    half-written files are removed, and it is put back to ``queued`` (the claim takes queued
    packets) with phase ``interrupted``. A packet queued that long was lost by the broker.
    A duplicate message is harmless: the claim lets only one build run.
    """
    now = timezone.now()
    stale = now - (STALE_AFTER if older_than is None else timedelta(seconds=older_than))
    reaped = []
    dead = EvidencePacket.objects.filter(status=EvidencePacket.Status.RUNNING, heartbeat_at__lt=stale).exclude(
        pk__in=PACKET_LOCK.held())
    for packet in dead.select_related("campaign"):
        with transaction.atomic():
            if not dead.filter(pk=packet.pk).update(
                    status=EvidencePacket.Status.QUEUED, phase="interrupted", progress=0.0, heartbeat_at=now,
                    error="the worker stopped without finishing (killed or lost); queued again"):
                continue
            audit.record("packet.interrupted", object_type="evidence_packet", object_id=packet.pk,
                         campaign=packet.campaign, data={"phase": packet.phase, "started_at": str(packet.started_at)})
        out = Path(settings.EVIDENCE_DIR) / f"packet-{packet.pk:06d}-campaign-{packet.campaign_id}.zip"
        for leftover in out.parent.glob(f".{out.name}.*"):
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
        reaped.append(packet.pk)
    # Sent again at most once per staleness period: heartbeat_at remembers the last resend.
    lost = EvidencePacket.objects.filter(Q(heartbeat_at__isnull=True, created_at__lt=stale) | Q(heartbeat_at__lt=stale),
                                         status=EvidencePacket.Status.QUEUED).exclude(pk__in=reaped)
    lost_ids = list(lost.values_list("pk", flat=True))
    lost.filter(pk__in=lost_ids).update(heartbeat_at=now)
    return reaped + lost_ids
