"""Files sent through a real Celery worker (Redis broker), including a worker killed mid-file."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.models import AccountHour, Request, Session
from ingest import services, tasks
from ingest.models import IngestRun
from tests.support.db import staging_tables
from tests.support.logs import many_requests, write_jsonl
from tests.support.worker import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _run(run_id: int) -> IngestRun:
    return IngestRun.objects.get(pk=run_id)


def test_a_file_sent_through_the_worker_is_loaded(celery_worker_factory, tmp_path):
    celery_worker_factory()
    path = write_jsonl(tmp_path / "requests-w.jsonl.gz", list(many_requests(2000)), gz=True)
    run = services.create_run(str(path), kind=None, source=IngestRun.Source.TASK)
    tasks.ingest_file.delay(run.pk)
    done = wait_for(lambda: _run(run.pk).status in ("done", "failed") and _run(run.pk), 60, "the worker to load")
    assert (done.status, done.loaded, done.duplicates) == ("done", 2000, 0)
    assert Request.objects.count() == 2000


def test_a_worker_killed_mid_file_leaves_nothing_and_the_rerun_completes_without_duplicates(
    celery_worker_factory, tmp_path, settings
):
    settings.INGEST_STALE_SECONDS = 3
    n = 400_000
    path = write_jsonl(tmp_path / "requests-kill.jsonl.gz", list(many_requests(n, accounts=500)), gz=True)
    first = celery_worker_factory(INGEST_STALE_SECONDS="3")
    run = services.create_run(str(path), kind=None, source=IngestRun.Source.TASK)
    tasks.ingest_file.delay(run.pk)
    wait_for(lambda: _run(run.pk).records > 20_000, 60, "the load to be under way")
    first.kill()
    # The killed load's transaction is rolled back by PostgreSQL when its connection drops.
    wait_for(lambda: not _busy_backends(), 180, "the dead load's connection to close")
    assert Request.objects.count() == 0 and Session.objects.count() == 0 and AccountHour.objects.count() == 0
    assert staging_tables(), "the killed load's chunk table stays until the next load or the reaper sweeps it"
    assert _run(run.pk).status == "running"  # what the page shows until the reaper sees the stale heartbeat

    celery_worker_factory(INGEST_STALE_SECONDS="3")
    wait_for(lambda: services.stale_runs() or None, 30, "the run to be seen as dead")
    assert _run(run.pk).status == "interrupted"
    tasks.enqueue([run.pk])
    done = wait_for(lambda: _run(run.pk).status in ("done", "failed") and _run(run.pk), 240, "the rerun to finish")
    assert (done.status, done.loaded, done.duplicates, done.attempts) == ("done", n, 0, 2)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT request_id) FROM request")
        assert cur.fetchone() == (n, n)
    assert sum(AccountHour.objects.values_list("requests", flat=True)) == n
    assert staging_tables() == []


def _busy_backends() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND (state <> 'idle' OR application_name LIKE 'copycat-ingest-%')")
        return cur.fetchone()[0]
