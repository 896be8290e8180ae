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
