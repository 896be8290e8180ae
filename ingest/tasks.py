"""Celery tasks for ingest: thin, they take ids and call the services."""

from __future__ import annotations

import logging

import psycopg
from celery import shared_task
from django.conf import settings
from django.db import OperationalError, transaction

from ingest import services
from ingest.models import IngestRun

logger = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, psycopg.OperationalError, psycopg.InterfaceError),
    retry_backoff=5,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=20,
)
def ingest_file(run_id: int) -> None:
    """Load the file of ingest run ``run_id`` (queue ``ingest``)."""
    if not IngestRun.objects.filter(pk=run_id).exists():
        logger.info("ingest_file: run %d no longer exists; skipping", run_id)
        return
    run = services.execute_run(run_id)
    if run is not None and run.status == IngestRun.Status.DONE and (run.loaded or run.updated):
        _request_detection()


def _request_detection() -> None:
    """New data: make sure a detection run will look at it (debounced by detection)."""
    if not settings.DETECT_AFTER_INGEST:
        return
    from campaigns.detection.service import request_detection

    request_detection()


def enqueue(run_ids: list[int]) -> None:
    """Queue runs once the transaction that created them has committed."""
    for run_id in run_ids:
        transaction.on_commit(lambda run_id=run_id: ingest_file.delay(run_id))


@shared_task
def scan_ingest_dir() -> int:
    """Beat job: pick up new, settled files in INGEST_DIR."""
    run_ids = services.claim_drop_files()
    enqueue(run_ids)
    return len(run_ids)


@shared_task
def reap_stale_runs() -> int:
    """Beat job: runs whose worker died are marked interrupted and queued again; runs whose
    message the broker lost are sent again; staging tables they left are dropped."""
    run_ids = services.stale_runs() + services.lost_queued_runs()
    enqueue(run_ids)
    services.drop_orphan_staging()
    return len(run_ids)
