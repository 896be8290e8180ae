"""A job whose heartbeat went stale while its worker still lives is neither reaped nor taken over.

The heartbeat runs on a connection of its own and can die alone (that connection lost, the
thread stopped) while the job goes on; taking the job over then would run it twice at once.
The worker's lock on the job (copycat.db.JobLock) says it is alive, until its connection goes.
The ingest run's case, with a rerun to the end, is in tests/ingest/test_command_and_drop_folder.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.detection import service as detection
from campaigns.evidence import service as evidence
from campaigns.models import AuditEvent, DetectionRun, EvidencePacket
from copycat import db
from tests.factories import CampaignFactory
from tests.support.worker import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _detection_run(stale):
    run = DetectionRun.objects.create(status="running", phase="links", heartbeat_at=stale, started_at=stale)
    return run, detection.RUN_LOCK, detection.reap_stale_runs, lambda: detection.execute_run(run.pk), "interrupted"


def _packet(stale):
    packet = EvidencePacket.objects.create(campaign=CampaignFactory(), status="running", phase="requests",
                                           heartbeat_at=stale, started_at=stale)
    return packet, evidence.PACKET_LOCK, evidence.reap_stale_packets, lambda: evidence.execute_packet(packet.pk), \
        "queued"


@pytest.mark.parametrize("make", [_detection_run, _packet], ids=["detection run", "evidence packet"])
def test_a_stale_job_whose_worker_holds_its_lock_is_left_alone_until_the_worker_is_gone(make):
    job, lock, reap, take_over, reaped_status = make(timezone.now() - timedelta(hours=1))
    with db.side_connection("live-worker") as worker:
        worker.execute("SELECT pg_advisory_lock(%s, %s)", [lock.namespace, job.pk])
        assert lock.held() == [job.pk]
        assert reap() == []
        assert take_over() is None
        job.refresh_from_db()
        assert job.status == "running"
    # The server drops the lock when the worker's backend exits, a moment after it hangs up.
    assert job.pk in wait_for(lambda: reap() or None, 10, "the lock to go with the worker's connection")
    job.refresh_from_db()
    assert (job.status, job.phase) == (reaped_status, "interrupted")
    assert lock.held() == []
    if isinstance(job, EvidencePacket):
        assert AuditEvent.objects.filter(action="packet.interrupted", object_id=str(job.pk)).count() == 1
