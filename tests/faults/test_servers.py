"""PostgreSQL restarted during an ingest, Redis restarted while tasks are queued, two beats.

Each drill restarts its own throwaway server (tests/faults/harness.py), never the machine's.
"""

from __future__ import annotations

import shutil
import time

import pytest
import redis

from tests.support.logs import many_requests, write_jsonl
from tests.support.worker import wait_for

pytestmark = pytest.mark.worker


def _send_ingest(drill, paths) -> list[int]:
    return drill.django(
        "from ingest import services, tasks\nfrom ingest.models import IngestRun\nresult = []\n"
        f"for path in {[str(p) for p in paths]!r}:\n"
        "    run = services.create_run(path, kind=None, source=IngestRun.Source.TASK)\n"
        "    tasks.ingest_file.delay(run.pk)\n"
        "    result.append(run.pk)")


def _all_done(drill) -> bool:
    return drill.one("SELECT count(*) FILTER (WHERE status <> 'done') FROM ingest_run") == 0


def _assert_loaded_once(drill, n: int) -> None:
    assert drill.one("SELECT count(*), count(DISTINCT request_id) FROM request") == (n, n)
    assert drill.one("SELECT coalesce(sum(requests), 0) FROM account_hour") == n


def test_postgres_restarted_mid_ingest_the_run_is_retried_and_loads_every_row_once(drill, tmp_path):
    n = 300_000
    path = write_jsonl(drill.folder / "requests-pg.jsonl.gz", list(many_requests(n, accounts=500)), gz=True)
    drill.worker()
    [run_id] = _send_ingest(drill, [path])
    wait_for(lambda: drill.one("SELECT records FROM ingest_run WHERE id = %s", [run_id]) > 20_000, 120,
             "the load to be under way")
    pg = drill.servers.pg
    pg.stop("fast")  # every connection ends; the file's open transaction is rolled back
    time.sleep(3)
    pg.start()
    assert drill.one("SELECT count(*) FROM request") == 0  # nothing half-loaded survives

    # The task retries on OperationalError; beat's reaper (run here as beat would) takes over a
    # run whose worker could not even record the failure.
    deadline = time.monotonic() + 180
    while not _all_done(drill):
        assert time.monotonic() < deadline, "the ingest did not finish after the restart"
        status = drill.one("SELECT status FROM ingest_run WHERE id = %s", [run_id])
        assert status in ("running", "interrupted", "queued"), status
        drill.django("from ingest.tasks import reap_stale_runs\nresult = reap_stale_runs()")
        time.sleep(3)
    status, attempts, loaded, duplicates = drill.one(
        "SELECT status, attempts, loaded, duplicates FROM ingest_run WHERE id = %s", [run_id])
    assert (status, loaded, duplicates) == ("done", n, 0) and attempts >= 2
    _assert_loaded_once(drill, n)


def test_redis_restarted_while_tasks_are_queued_with_persistence_every_file_loads_once(drill):
    srv = drill.servers.redis
    srv.stop()
    srv.start(persistent=True)  # appendonly yes, fsync always: the deployment setting this drill checks
    try:
        big = write_jsonl(drill.folder / "requests-big.jsonl.gz", list(many_requests(100_000, accounts=200)), gz=True)
        small = [write_jsonl(drill.folder / f"requests-small-{i}.jsonl",
                             list(many_requests(3000, accounts=20, prefix=f"s{i}-"))) for i in range(3)]
        drill.worker()
        run_ids = _send_ingest(drill, [big, *small])
        wait_for(lambda: drill.one("SELECT status FROM ingest_run WHERE id = %s", [run_ids[0]]) == "running", 60,
                 "the worker to be busy with the big file")
        assert redis.Redis(port=srv.port).llen("ingest") == 3  # the small files wait in the queue
        srv.stop()
        time.sleep(2)
        srv.start()
        wait_for(lambda: _all_done(drill), 180, "every queued file to load after the restart")
        _assert_loaded_once(drill, 100_000 + 3 * 3000)
        assert drill.one("SELECT count(*), sum(attempts) FROM ingest_run") == (4, 4)
    finally:
        srv.stop()
        srv.start(persistent=False)


def test_redis_restarted_without_persistence_the_reapers_send_lost_detection_and_packet_jobs_again(drill):
    """Without persistence Redis loses what was queued; a queued detection run would then block
    request_detection forever. The beat reapers send lost runs and packets again."""
    srv = drill.servers.redis
    run_id = drill.django("from campaigns.detection.service import start_run\nresult = start_run().pk")
    assert redis.Redis(port=srv.port).llen("detect") == 1
    srv.stop()
    srv.start()
    assert redis.Redis(port=srv.port).llen("detect") == 0  # the message is gone
    time.sleep(1.5)
    sent = drill.django("from campaigns.tasks import detect_reap_stale_runs\n"
                        "result = detect_reap_stale_runs(older_than=0)")
    assert sent == 1
    drill.worker()
    wait_for(lambda: drill.one("SELECT status FROM detection_run WHERE id = %s", [run_id]) == "done", 60,
             "the re-sent detection run")
    assert drill.one("SELECT count(*) FROM detection_run") == 1


def test_two_beat_processes_by_mistake_still_ingest_each_dropped_file_once(drill):
    drill.worker()
    drill.beat()
    drill.beat()
    rows = 3000
    for i in range(6):
        staged = write_jsonl(drill.folder / f"requests-drop-{i}.jsonl", list(many_requests(rows, prefix=f"d{i}-")))
        shutil.move(staged, drill.drop / staged.name)
    wait_for(lambda: drill.one("SELECT count(*) FILTER (WHERE status = 'done') FROM ingest_run") == 6, 120,
             "the six dropped files to load")
    time.sleep(6)  # several more scans by both beats: nothing new may appear
    assert drill.one("SELECT count(*), count(DISTINCT path) FROM ingest_run") == (6, 6)
    _assert_loaded_once(drill, 6 * rows)
    for log in ("beat-0.log", "beat-1.log"):  # both beats really were scanning
        assert (drill.logs / log).read_text().count("Sending due task scan-ingest-dir") >= 3
