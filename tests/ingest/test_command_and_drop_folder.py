"""The `ingest` command's contract and the drop folder's claim-once rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Request
from copycat import db
from ingest import services
from ingest.models import IngestRun
from tests.support.logs import request, write_jsonl
from tests.support.worker import ROOT, wait_for, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


def run_command(*args: str) -> subprocess.CompletedProcess:
    env = worker_env("redis://127.0.0.1:6379/15")
    return subprocess.run([sys.executable, "manage.py", "ingest", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_json_output_has_one_object_per_file_with_the_documented_keys(samples):
    result = run_command("--json", str(samples / "requests-sample.jsonl"), str(samples / "requests-invalid.jsonl"))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    given = [str(samples / "requests-sample.jsonl"), str(samples / "requests-invalid.jsonl")]
    assert [r["file"] for r in lines] == given
    keys = {"file", "kind", "status", "reason", "loaded", "updated", "duplicates", "rejected", "rejected_by_reason",
            "unknown_fields", "seconds"}
    assert all(keys <= set(r) for r in lines)
    assert (lines[0]["status"], lines[0]["loaded"], lines[1]["rejected"]) == ("done", 4, 8)
    assert lines[1]["unknown_fields"] == {"some_future_field": 1}


def test_exit_code_is_one_when_a_file_fails_and_the_others_still_load(samples):
    result = run_command("--json", str(samples / "requests-not-gzip.jsonl.gz"), str(samples / "requests-sample.jsonl"))
    assert result.returncode == 1
    failed, done = (json.loads(line) for line in result.stdout.splitlines())
    assert failed["status"] == "failed" and "gzip" in failed["reason"]
    assert done["status"] == "done" and done["loaded"] == 4


def test_missing_file_fails_with_its_name(tmp_path):
    result = run_command("--json", str(tmp_path / "requests-nowhere.jsonl"))
    assert result.returncode == 1
    assert "no such file" in json.loads(result.stdout)["reason"]


@pytest.mark.parametrize("args", [[], ["--kind", "bogus", "x.jsonl"]])
def test_usage_errors_exit_two(args):
    result = run_command(*args)
    assert result.returncode == 2
    assert "usage" in result.stderr.lower() or "error" in result.stderr.lower()


def test_human_summary_names_each_rejection_reason(samples):
    result = run_command(str(samples / "requests-invalid.jsonl"))
    assert result.returncode == 0
    assert "rejected 8" in result.stdout and "ts has no UTC offset" in result.stdout


def _old(path, seconds=60):
    past = time.time() - seconds
    os.utime(path, (past, past))
    return path


def test_drop_folder_takes_settled_files_once_and_skips_ones_being_written(tmp_path, settings):
    settings.INGEST_DIR = tmp_path
    settings.INGEST_SETTLE_SECONDS = 10
    _old(write_jsonl(tmp_path / "requests-1.jsonl", [request("d1")]))
    write_jsonl(tmp_path / "requests-2.jsonl", [request("d2")])  # modified just now: still being written
    _old(write_jsonl(tmp_path / "requests-3.jsonl.part", [request("d3")]))
    _old(write_jsonl(tmp_path / ".requests-4.jsonl", [request("d4")]))
    first = services.claim_drop_files()
    assert [IngestRun.objects.get(pk=i).path for i in first] == [str(tmp_path / "requests-1.jsonl")]
    assert services.claim_drop_files() == []
    _old(tmp_path / "requests-2.jsonl")
    claimed = [IngestRun.objects.get(pk=i).path for i in services.claim_drop_files()]
    assert claimed == [str(tmp_path / "requests-2.jsonl")]


def test_two_scanners_at_once_claim_each_file_once(tmp_path, settings):
    settings.INGEST_DIR = tmp_path
    settings.INGEST_SETTLE_SECONDS = 0
    for i in range(20):
        _old(write_jsonl(tmp_path / f"requests-{i:02d}.jsonl", [request(f"c{i}")]))
    results: list[list[int]] = []
    barrier = threading.Barrier(2)

    def scan():
        barrier.wait()
        try:
            results.append(services.claim_drop_files())
        finally:
            connection.close()

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = results[0] + results[1]
    assert len(claimed) == len(set(claimed)) == 20
    assert IngestRun.objects.count() == 20


def test_a_finished_run_cannot_be_claimed_again(tmp_path):
    run = services.ingest_path(str(write_jsonl(tmp_path / "requests-c.jsonl", [request("x1")])))
    assert run.status == "done"
    with services.claimed_run(run.pk) as ours:
        assert ours is False
    assert services.execute_run(run.pk) is None


def test_a_stale_heartbeat_with_a_live_worker_is_neither_reaped_nor_claimed_again(tmp_path):
    # The heartbeat thread can die on its own connection while the load goes on; a second
    # worker that took the run over on the heartbeat alone would load the file twice at once.
    run = services.create_run(str(write_jsonl(tmp_path / "requests-live.jsonl", [request("v1")])),
                              kind=None, source=IngestRun.Source.TASK)
    stale = timezone.now() - timedelta(hours=1)
    with db.side_connection("first-worker") as first_worker:
        first_worker.execute("SELECT pg_advisory_lock(%s, %s)", [services.RUN_LOCK.namespace, run.pk])
        IngestRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=stale)
        assert services.stale_runs() == []
        with services.claimed_run(run.pk) as ours:
            assert ours is False
        assert services.execute_run(run.pk) is None
        assert IngestRun.objects.get(pk=run.pk).status == "running" and Request.objects.count() == 0

    # Its connection gone, the worker is dead: the run is reaped and a rerun completes it. The
    # server drops the lock when the backend exits, a moment after the client hangs up.
    assert wait_for(lambda: services.stale_runs() or None, 10, "the lock to go with the connection") == [run.pk]
    done = services.execute_run(run.pk)
    assert (done.status, done.loaded, done.attempts) == ("done", 1, 1)
    with services.claimed_run(run.pk) as ours:
        assert ours is False  # finished
    # and the lock of every claim, taken or not, was given back
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 "
                       "AND classid = %s::bigint::oid AND pid = pg_backend_pid()", [services.RUN_LOCK.namespace])
        assert cursor.fetchone()[0] == 0


def test_a_run_whose_message_was_lost_is_sent_again_once_per_period(tmp_path, settings):
    settings.INGEST_REQUEUE_SECONDS = 60
    path = write_jsonl(tmp_path / "requests-lost.jsonl", [request("l1")])
    old = services.create_run(str(path), kind=None, source=IngestRun.Source.TASK)
    fresh = services.create_run(str(path), kind=None, source=IngestRun.Source.TASK)
    IngestRun.objects.filter(pk=old.pk).update(created_at=old.created_at - timedelta(minutes=5))
    assert services.lost_queued_runs() == [old.pk]
    assert services.lost_queued_runs() == []  # not again within the period
    assert fresh.pk not in services.lost_queued_runs()
