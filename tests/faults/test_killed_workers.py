"""A worker killed with SIGKILL in the middle of a detection run and of a packet export.

(The same for an ingest is in tests/ingest/test_worker.py.) In each: the run is left
``running`` by the dead worker, the beat reaper marks it and sends it again, a new worker
finishes it, and nothing is lost or doubled.
"""

from __future__ import annotations

import time

import pytest

from tests.support.worker import wait_for

pytestmark = pytest.mark.worker


@pytest.fixture
def loaded(servers, request):
    d = servers.world(request.node.name[:40], template=servers.loaded_template())
    yield d
    d.close()


def _kill_when(drill, worker, table: str, pk: int, ready, what: str, delay: float = 0.0) -> None:
    """Poll the run's row closely; SIGKILL the worker once ``ready(status, phase)`` holds."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status, phase = drill.one(f"SELECT status, phase FROM {table} WHERE id = %s", [pk])
        assert status in ("queued", "running"), f"the run ended ({status}) before the worker could be killed {what}"
        if ready(status, phase):
            time.sleep(delay)
            worker.kill()
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting to kill the worker {what}")


def test_a_worker_killed_mid_detection_is_reaped_and_the_rerun_leaves_one_campaign_per_group(loaded):
    drill = loaded
    first = drill.worker()
    run_id = drill.django("from campaigns.detection.service import start_run\nresult = start_run().pk")
    # Killed as soon as the run is working: waiting for a later phase (reconciling) raced the
    # run on a small world, which could finish before the kill landed.
    _kill_when(drill, first, "detection_run", run_id, lambda s, p: s == "running" and p not in ("", "starting"),
               "mid-run")
    assert drill.one("SELECT status FROM detection_run WHERE id = %s", [run_id]) == "running"
    partial = drill.one("SELECT count(*) FROM campaign")

    time.sleep(2.5)
    sent = drill.django("from campaigns.tasks import detect_reap_stale_runs\n"
                        "result = detect_reap_stale_runs(older_than=2)")
    assert sent == 1
    assert drill.one("SELECT status, phase FROM detection_run WHERE id = %s", [run_id]) == ("interrupted",
                                                                                          "interrupted")
    drill.worker()
    wait_for(lambda: drill.one("SELECT status FROM detection_run WHERE id = %s", [run_id]) == "done", 120,
             "the re-sent detection run to finish")

    counts = drill.one("SELECT counts FROM detection_run WHERE id = %s", [run_id])
    campaigns = drill.one("SELECT count(*) FROM campaign")
    assert campaigns == counts["campaigns_found"] == counts["created"] + counts["updated"] > 0
    assert counts["updated"] == partial  # campaigns written before the kill were found again, not doubled
    assert drill.one("SELECT count(*) - count(DISTINCT (campaign_id, account_id)) FROM membership") == 0
    assert drill.one("SELECT count(*) FROM (SELECT account_id FROM membership WHERE active "
                     "GROUP BY account_id HAVING count(*) > 1) twice") == 0
    # A further complete run finds exactly the same campaigns: nothing left over to add or create.
    again = drill.django("from campaigns.detection.service import run_detection\nresult = run_detection().counts")
    assert (again["created"], again["added"], again["removed"]) == (0, 0, 0)
    assert drill.one("SELECT count(*) FROM campaign") == campaigns
    drill.manage("verify_audit")


def test_a_worker_killed_mid_packet_export_is_reaped_cleaned_up_and_built_once(loaded):
    drill = loaded
    drill.manage("detect")
    first = drill.worker()
    packet_id = drill.django(
        "from campaigns.evidence import service\nfrom campaigns.models import Campaign\n"
        "from django.contrib.auth.models import Group\nfrom django.contrib.auth import get_user_model\n"
        "lead = get_user_model().objects.create_user('lead-drill')\nlead.groups.add(Group.objects.get(name='lead'))\n"
        "campaign = Campaign.objects.order_by('-member_count', 'id').first()\n"
        "result = service.request_packet(campaign, user=lead).pk")
    # The first progress write (phase "members") comes right after the claim; the build takes
    # several seconds more (report, PDF), so one second later the worker is mid-export.
    _kill_when(drill, first, "evidence_packet", packet_id, lambda s, p: s == "running" and p != "starting",
               "mid-export", 1.0)
    assert drill.one("SELECT status FROM evidence_packet WHERE id = %s", [packet_id]) == "running"
    leftovers = [p for p in drill.evidence.iterdir() if p.name.startswith(".packet-")]
    assert leftovers, "a killed export leaves its half-written parts behind until reaped"

    time.sleep(2.5)
    sent = drill.django("from campaigns.tasks import export_reap_stale_packets\n"
                        "result = export_reap_stale_packets(older_than=2)")
    assert sent == 1
    assert drill.one("SELECT status, phase FROM evidence_packet WHERE id = %s", [packet_id]) == ("queued",
                                                                                               "interrupted")
    assert not [p for p in drill.evidence.iterdir() if p.name.startswith(".packet-")]
    assert drill.one("SELECT count(*) FROM audit_event WHERE action = 'packet.interrupted' AND object_id = %s",
                     [str(packet_id)]) == 1

    drill.worker()
    wait_for(lambda: drill.one("SELECT status FROM evidence_packet WHERE id = %s", [packet_id]) == "done", 120,
             "the re-sent packet to be built")
    path = drill.one("SELECT path FROM evidence_packet WHERE id = %s", [packet_id])
    assert [p.name for p in drill.evidence.iterdir() if p.suffix == ".zip"] == [path.rsplit("/", 1)[-1]]
    assert not [p for p in drill.evidence.iterdir() if p.name.startswith(".packet-")]
    assert drill.one("SELECT count(*) FROM evidence_packet") == 1
    assert drill.one("SELECT count(*) FROM audit_event WHERE action = 'packet.built' AND object_id = %s",
                     [str(packet_id)]) == 1
    drill.manage("verify_packet", path)
    drill.manage("verify_audit")
