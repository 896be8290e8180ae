"""Shared fixtures: real PostgreSQL (pytest-django's test database) and real Redis."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "spec" / "samples"
# Tests use their own Redis database so a demo running on the same machine is left alone.
TEST_BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session", autouse=True)
def _test_broker():
    from copycat.celery import app

    app.conf.broker_url = TEST_BROKER_URL
    yield


@pytest.fixture
def samples() -> Path:
    assert SAMPLES.is_dir(), f"the shared samples are expected at {SAMPLES}"
    return SAMPLES


def _uses_transactional_db(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    return "transactional_db" in request.fixturenames or bool(marker and marker.kwargs.get("transaction"))


@pytest.fixture(autouse=True)
def _empty_unmanaged_tables(request):
    """Django's flush between transactional tests skips unmanaged tables; the request
    table (partitioned, made by a migration) is one, so empty it here."""
    yield
    if _uses_transactional_db(request):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE request")


@pytest.fixture
def celery_worker_factory(transactional_db, tmp_path):
    """Start real worker processes (as many as a test needs); all are stopped afterwards."""
    from tests.support.worker import WorkerProcess, purge, worker_env

    purge(TEST_BROKER_URL)
    started: list[WorkerProcess] = []

    def start(**env_extra: str) -> WorkerProcess:
        log = tmp_path / f"worker-{len(started)}.log"
        worker = WorkerProcess(worker_env(TEST_BROKER_URL, **env_extra), log).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    purge(TEST_BROKER_URL)
