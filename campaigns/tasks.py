"""Celery tasks for campaigns: thin wrappers that take ids and call the packages' services."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=5, retry_jitter=True, max_retries=10)
def detect(run_id: int) -> None:
    """Run detection for DetectionRun ``run_id`` (queue ``detect``)."""
    from campaigns.detection import service

    service.execute_run(run_id)


@shared_task(ignore_result=True)
def detect_scheduled() -> None:
    """Beat job: queue a detection run unless one is already waiting."""
    from campaigns.detection.service import request_detection

    request_detection()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=5, retry_jitter=True, max_retries=10)
def export_packet(packet_id: int) -> None:
    """Build EvidencePacket ``packet_id`` (queue ``export``)."""
    from campaigns.evidence import service

    service.execute_packet(packet_id)


@shared_task(ignore_result=True)
def detect_warm_campaign(campaign_id: int) -> None:
    """Fill a campaign's read caches after detection or a membership change (queue ``detect``)."""
    from campaigns import selectors

    campaign = selectors.campaign_detail(campaign_id)
    if campaign is not None:
        selectors.warm(campaign)


def _send_after_commit(task, ids: list[int]) -> None:
    from django.db import transaction

    for pk in ids:
        transaction.on_commit(lambda pk=pk: task.delay(pk))


# Named detect*/export* so they route to the queues the detection and export workers consume.
@shared_task(ignore_result=True)
def detect_reap_stale_runs(older_than: float | None = None) -> int:
    """Beat job: detection runs whose worker died are marked interrupted and queued again;
    queued runs the broker lost are sent again."""
    from campaigns.detection import service

    run_ids = service.reap_stale_runs(older_than)
    _send_after_commit(detect, run_ids)
    return len(run_ids)


@shared_task(ignore_result=True)
def export_reap_stale_packets(older_than: float | None = None) -> int:
    """Beat job: packets whose worker died are recorded as interrupted, cleaned up and queued
    again; queued packets the broker lost are sent again."""
    from campaigns.evidence import service

    packet_ids = service.reap_stale_packets(older_than)
    _send_after_commit(export_packet, packet_ids)
    return len(packet_ids)
