"""Detection runs: start, claim, execute with progress, and the foreground entry point.

Pipeline: per-account facts (SQL) -> shared values weighted by rarity (SQL) -> candidate pairs
and their link weights (numpy/scipy) -> groups on strong links (components + peeling) ->
behaviour score against the baseline -> explanations -> reconciliation with campaigns.
"""

from __future__ import annotations

import logging
import resource
import time
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.detection import clusters, explain, features, links, scoring
from campaigns.detection.reconcile import DetectedGroup, reconcile
from campaigns.models import DetectionRun
from copycat import db
from copycat.db import heartbeat

logger = logging.getLogger(__name__)
STALE_SECONDS = getattr(settings, "DETECTION_STALE_SECONDS", 600)


def start_run(user=None, since=None, until=None, enqueue: bool = True, countdown: int = 0) -> DetectionRun:
    """Record a run and queue it on ``detect`` once the transaction commits."""
    run = DetectionRun.objects.create(
        params={"since": since.isoformat() if since else None, "until": until.isoformat() if until else None,
                "edge_threshold": links.EDGE_THRESHOLD, "campaign_threshold": scoring.CAMPAIGN_THRESHOLD},
        window_start=since, window_end=until, requested_by=user if getattr(user, "is_authenticated", False) else None,
    )
    if enqueue:
        from campaigns.tasks import detect

        transaction.on_commit(lambda: detect.apply_async((run.pk,), countdown=countdown))
    return run


# Held by the worker that claimed a run until the run ends (see copycat.db.JobLock).
RUN_LOCK = db.JobLock(0x44657452)


def _free() -> Q:
    stale = timezone.now() - timedelta(seconds=STALE_SECONDS)
    return Q(status__in=[DetectionRun.Status.QUEUED, DetectionRun.Status.INTERRUPTED]) | Q(
        status=DetectionRun.Status.RUNNING, heartbeat_at__lt=stale)


def request_detection() -> DetectionRun | None:
    """After an ingest: queue a run unless one is already waiting (debounced).

    A run already *running* does not count: it may have started before this data arrived,
    so one more is queued behind it. The queued run waits DETECT_DEBOUNCE_SECONDS, so a burst
    of files (a day's drop, a backfill) leads to one run, not one per file.
    """
    with transaction.atomic():
        # A transaction-level advisory lock makes check-then-create atomic across workers.
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [0x44657431])
        if DetectionRun.objects.filter(status=DetectionRun.Status.QUEUED).exists():
            return None
        return start_run(countdown=settings.DETECT_DEBOUNCE_SECONDS)


def run_detection(user=None, since=None, until=None) -> DetectionRun:
    """Foreground run (the ``detect`` command): same code path as the Celery task."""
    run = start_run(user=user, since=since, until=until, enqueue=False)
    execute_run(run.pk)
    run.refresh_from_db()
    return run


# Tables reconciliation writes.
_WRITTEN_TABLES = ("campaign", "membership", "signal", "campaign_hour")


class _Progress:
    def __init__(self, run_id: int):
        self.run_id, self.timings, self.t = run_id, {}, time.monotonic()
        self.phase = None
        # The process's peak RSS when each phase ends: the phase where it grows is the one to
        # look at when a big world nears the memory budget.
        self.peak_rss_mb: dict[str, int] = {}

    def __call__(self, phase: str, progress: float) -> None:
        now = time.monotonic()
        if self.phase:
            self.timings[self.phase] = round(now - self.t, 2)
            self.peak_rss_mb[self.phase] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        self.phase, self.t = phase, now
        DetectionRun.objects.filter(pk=self.run_id).update(phase=phase, progress=progress,
                                                           heartbeat_at=timezone.now(), timings=self.timings)


def execute_run(run_id: int) -> DetectionRun | None:
    """Claim the run by conditional UPDATE and execute it; None if it was not ours.

    The claim also takes the run's lock, held until the run ends: a run whose heartbeat is
    stale while its worker still lives is neither reaped nor claimed again.
    """
    def take() -> bool:
        now = timezone.now()
        return DetectionRun.objects.filter(_free(), pk=run_id).update(
            status=DetectionRun.Status.RUNNING, started_at=now, heartbeat_at=now, phase="starting", progress=0.0,
            error="") == 1

    with RUN_LOCK.claimed(run_id, take) as ours:
        if not ours:
            logger.info("execute_run: detection run %d is taken, held by a live worker or finished; skipping", run_id)
            return None
        return _execute_claimed(run_id)


def _execute_claimed(run_id: int) -> DetectionRun:
    run = DetectionRun.objects.get(pk=run_id)
    progress = _Progress(run_id)
    t0 = time.monotonic()
    try:
        # Phases can be long on a big world: beat between progress updates too.
        with heartbeat("detection_run", run_id):
            groups, counts = detect_groups(run.window_start, run.window_end, progress)
            progress("reconciling", 0.9)
            counts.update(reconcile(run, groups))
            progress("done", 1.0)
    except Exception as exc:
        DetectionRun.objects.filter(pk=run_id).update(status=DetectionRun.Status.FAILED, error=str(exc)[:4000],
                                                      finished_at=timezone.now())
        raise
    progress.timings["total"] = round(time.monotonic() - t0, 2)
    counts["peak_rss_mb"] = progress.peak_rss_mb
    DetectionRun.objects.filter(pk=run_id).update(status=DetectionRun.Status.DONE, finished_at=timezone.now(),
                                                  counts=counts, timings=progress.timings, progress=1.0)
    # Member lists, timelines and candidates are planned from these right after, in the worker
    # path too: where autovacuum is off (this machine) a never-analysed membership table made
    # the member list sort all 1,500 members of a campaign per page (9 ms instead of 0.8 ms).
    db.refresh_statistics(_WRITTEN_TABLES)
    run.refresh_from_db()
    return run


def _window_start(since) -> float | None:
    if since is not None:
        return since.timestamp()
    with connection.cursor() as cur:
        cur.execute("SELECT extract(epoch FROM min(hour)) FROM traffic_hour")
        row = cur.fetchone()
    return float(row[0]) if row and row[0] is not None else None


def detect_groups(since=None, until=None, progress=lambda phase, p: None) -> tuple[list[DetectedGroup], dict]:
    """The pipeline up to reconciliation: groups with scores, explanations and member facts."""
    progress("features", 0.05)
    universe = features.build_universe(since, until)
    counts = {"accounts": universe.size}
    if universe.size < 2:
        return [], counts
    start = _window_start(since)
    hours = features.hour_facts(since, until, start)
    progress("request_scan", 0.15)
    scan = links.scan_requests(universe, since, until)
    reqs = {"account_id": universe.ids, "requests": scan.requests, "proxied": scan.proxied, "foreign": scan.foreign}
    categories = features.lookup_values("lookup_category")
    behaviour = scoring.behaviour(universe, hours, reqs, categories, {}, start)
    progress("shared_values", 0.3)
    sv = links.shared_values(universe, since, until, scan)
    del scan
    counts.update(values=int(sv.df.size), incidences=int(sv.acct.size))
    progress("links", 0.45)
    pairs = links.candidate_pairs(sv, universe)
    mats = links.kind_matrices(sv, universe.size)
    weights, _parts, _codes = links.pair_weights(pairs, mats)
    # The per-kind matrices and each pair's per-kind parts (pairs x kinds) are not read again;
    # at seed they are gigabytes, and scoring's peak comes on top of what is still held.
    del mats, _parts, _codes
    strong = weights >= links.EDGE_THRESHOLD
    counts.update(candidate_pairs=int(pairs.shape[0]), links=int(strong.sum()))
    progress("clusters", 0.65)
    found = clusters.groups(pairs, weights, universe.size, links.EDGE_THRESHOLD)
    counts["clusters"] = len(found)
    progress("scoring", 0.75)
    in_any = np.zeros(universe.size, bool)
    for g in found:
        in_any[g] = True
    base = np.flatnonzero(~in_any & (behaviour.requests > 0))
    label = explain.Labeller(features.lookup_values("lookup_template"),
                             features.lookup_values("lookup_client_fingerprint"),
                             features.lookup_values("lookup_system_prompt"))
    sp_ = pairs[strong]
    del pairs, weights, strong  # only the strong pairs are read from here on
    degree = np.bincount(np.r_[sp_[:, 0], sp_[:, 1]], minlength=universe.size)
    out, scored_all = [], []
    for members in found:
        inside = in_any[sp_[:, 0]] & np.isin(sp_[:, 0], members) & np.isin(sp_[:, 1], members)
        density = float(inside.sum() / max(1, members.size * min(members.size - 1, 2 * 4)))
        scored = scoring.score_group(members, behaviour, base, density)
        scored_all.append({"size": int(members.size), "score": scored["score"]})
        if scored["score"] < scoring.CAMPAIGN_THRESHOLD:
            continue
        signals = explain.group_signals(members, sv, label)
        per_member = explain.member_signals(members, sv, label)
        top = max(1, int(np.percentile(degree[members], 90)))
        member_info = {}
        for m in members.tolist():
            sigs = per_member.get(m, [])
            member_info[int(universe.ids[m])] = {
                "confidence": round(min(1.0, 0.5 + 0.5 * degree[m] / top), 3), "signals": sigs,
                "explanation": "; ".join(s["text"] for s in sigs).capitalize()}
        hint = signals[0]["kind"].replace("_", " ") if signals else ""
        out.append(DetectedGroup(
            accounts=[int(x) for x in universe.ids[members]], score=scored["score"], breakdown=scored,
            explanation=explain.campaign_text(members.size, scored, signals), signals=signals,
            members=member_info, name_hint=f"{members.size} accounts linked by {hint}" if hint else ""))
    counts["groups_scored"] = scored_all
    counts["campaigns_found"] = len(out)
    return out, counts


def reap_stale_runs(older_than: float | None = None) -> list[int]:
    """Runs to send to a worker again: those whose worker died, and queued ones whose message was lost.

    A running run whose heartbeat is older than ``older_than`` seconds (default STALE_SECONDS),
    and whose lock no live worker holds, is marked ``interrupted`` (the claim takes
    interrupted runs). A run still ``queued`` long after its debounce was never picked up (the
    broker lost it, e.g. Redis restarted without persistence); it would also block
    ``request_detection`` forever, so it is sent again. A duplicate message is harmless: the
    claim lets only one execution run.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=STALE_SECONDS if older_than is None else older_than)
    dead = DetectionRun.objects.filter(status=DetectionRun.Status.RUNNING, heartbeat_at__lt=stale).exclude(
        pk__in=RUN_LOCK.held())
    ids = list(dead.values_list("pk", flat=True))
    if ids:
        dead.filter(pk__in=ids).update(
            status=DetectionRun.Status.INTERRUPTED, phase="interrupted", heartbeat_at=now,
            error="the worker stopped without finishing (killed or lost); queued again")
    # Sent again at most once per staleness period: heartbeat_at remembers the last resend.
    waited = stale - timedelta(seconds=settings.DETECT_DEBOUNCE_SECONDS)
    lost = DetectionRun.objects.filter(Q(heartbeat_at__isnull=True, created_at__lt=waited) | Q(heartbeat_at__lt=waited),
                                       status=DetectionRun.Status.QUEUED)
    lost_ids = list(lost.values_list("pk", flat=True))
    lost.filter(pk__in=lost_ids).update(heartbeat_at=now)
    return ids + lost_ids
