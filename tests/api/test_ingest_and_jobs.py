"""Uploads, ingest runs, detection runs, evidence packets and create_user."""

from __future__ import annotations

import io
from pathlib import Path
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from campaigns.models import AuditEvent, DetectionRun, EvidencePacket
from ingest.models import IngestRun, RejectedRecord

pytestmark = pytest.mark.django_db

LINE = b'{"request_id":"r1","ts":"2026-04-01T00:00:00Z","account_id":"acct_A","ip":"192.0.2.1","model":"m",' \
       b'"input_tokens":1,"output_tokens":1}\n'


@pytest.fixture
def ingest_dir(tmp_path, settings):
    settings.INGEST_DIR = tmp_path / "drop"
    return settings.INGEST_DIR


def upload(client, name: str, content: bytes = LINE, **extra):
    return client.post("/api/v1/ingest/uploads/", {"file": SimpleUploadedFile(name, content), **extra},
                       format="multipart")


def test_upload_saves_under_uploads_creates_a_run_and_queues_it(api, ingest_dir):
    with mock.patch("ingest.tasks.enqueue") as enqueue:
        response = upload(api["analyst"], "requests-2026-04-01.jsonl")
    assert response.status_code == 202, response.content
    run = IngestRun.objects.get(pk=response.json()["id"])
    assert run.source == "upload" and run.kind == "requests" and run.created_by.username == "analyst-user"
    saved = ingest_dir / "uploads"
    assert run.path.startswith(str(saved)) and run.path.endswith("-requests-2026-04-01.jsonl")
    assert Path(run.path).read_bytes() == LINE
    enqueue.assert_called_once_with([run.pk])
    event = AuditEvent.objects.get(action="ingest.upload")
    assert event.actor_name == "analyst-user" and "requests-2026-04-01.jsonl" in event.reason


def test_upload_strips_directories_and_takes_an_explicit_kind(api, ingest_dir):
    with mock.patch("ingest.tasks.enqueue"):
        response = upload(api["analyst"], "C:\\logs\\batch 7.csv.gz", content=b"x", kind="accounts")
    assert response.status_code == 202, response.content
    run = IngestRun.objects.get(pk=response.json()["id"])
    assert run.kind == "accounts" and run.path.startswith(str(ingest_dir / "uploads"))
    assert run.path.endswith("-batch_7.csv.gz") and "logs" not in run.path.rsplit("/", 1)[-1]


def test_a_path_in_the_upload_name_never_leaves_the_uploads_folder(api, ingest_dir):
    with mock.patch("ingest.tasks.enqueue"):
        response = upload(api["analyst"], "../../etc/requests.jsonl")
    assert response.status_code == 202, response.content
    path = IngestRun.objects.get(pk=response.json()["id"]).path
    assert path.startswith(str(ingest_dir / "uploads") + "/") and path.endswith("-requests.jsonl")


@pytest.mark.parametrize("name, extra, message", [
    ("requests..jsonl", {}, "no paths or '..'"),
    ("requests.exe", {}, "unsupported file type"),
    ("traffic.jsonl", {}, "kind"),
    ("requests.jsonl", {"kind": "videos"}, "kind"),
])
def test_bad_uploads_are_400_with_what_to_fix(api, ingest_dir, name, extra, message):
    with mock.patch("ingest.tasks.enqueue") as enqueue:
        response = upload(api["analyst"], name, **extra)
    assert response.status_code == 400, response.content
    assert message.lower() in response.json()["error"].lower()
    enqueue.assert_not_called()
    assert not IngestRun.objects.exists()


def test_oversized_upload_is_400_naming_the_limit(api, ingest_dir, settings):
    settings.INGEST_UPLOAD_MAX_BYTES = 10
    response = upload(api["analyst"], "requests.jsonl", content=b"x" * 100)
    assert response.status_code == 400
    assert "INGEST_UPLOAD_MAX_BYTES" in response.json()["error"]
    big = api["analyst"].post("/api/v1/ingest/uploads/", data=b"x" * 200_000,
                              content_type="multipart/form-data; boundary=zz")
    assert big.status_code == 400 and "limit" in big.json()["error"]


def test_missing_file_and_empty_file_are_400(api, ingest_dir):
    assert api["analyst"].post("/api/v1/ingest/uploads/", {}, format="multipart").status_code == 400
    assert upload(api["analyst"], "requests.jsonl", content=b"").status_code == 400


def test_viewer_may_not_upload(api, ingest_dir):
    response = upload(api["viewer"], "requests.jsonl")
    assert response.status_code == 403 and "analyst" in response.json()["error"]


def test_ingest_runs_list_detail_and_rejected(api, django_assert_max_num_queries):
    run = IngestRun.objects.create(path="/x/requests.jsonl", kind="requests", source="command", status="done",
                                   rejected=3, size_bytes=100, bytes_read=50)
    for line in (3, 1, 2):
        RejectedRecord.objects.create(run=run, line=line, field="ts", reason="not a timestamp", raw="{}")
    for _ in range(10):
        IngestRun.objects.create(path="/x/accounts.csv", kind="accounts", source="drop_folder")
    with django_assert_max_num_queries(3):
        listed = api["viewer"].get("/api/v1/ingest/runs/").json()["results"]
    assert len(listed) == 11
    assert [r["id"] for r in api["viewer"].get("/api/v1/ingest/runs/?has_rejections=true").json()["results"]] == [
        run.pk]
    body = api["viewer"].get(f"/api/v1/ingest/runs/{run.pk}/").json()
    assert body["progress"] == 0.5 and [r["line"] for r in body["rejected_preview"]] == [1, 2, 3]
    rejected = api["viewer"].get(f"/api/v1/ingest/runs/{run.pk}/rejected/?page_size=2").json()
    assert [r["line"] for r in rejected["results"]] == [1, 2] and rejected["next"]
    assert api["viewer"].get(f"/api/v1/ingest/runs/{run.pk}/rejected/?field=ip").json()["results"] == []


def test_start_detection_run_is_audited_and_needs_analyst(api):
    pytest.importorskip("campaigns.detection.service", reason="detection service not in the tree yet")
    assert api["viewer"].post("/api/v1/detection-runs/", {}, format="json").status_code == 403
    with mock.patch("campaigns.tasks.detect.delay"):
        response = api["analyst"].post("/api/v1/detection-runs/", {"since": "2026-04-01T00:00:00Z"}, format="json")
    assert response.status_code == 202, response.content
    run = DetectionRun.objects.get(pk=response.json()["id"])
    assert run.requested_by.username == "analyst-user"
    assert AuditEvent.objects.get(action="detection.start").actor_name == "analyst-user"
    assert api["viewer"].get(f"/api/v1/detection-runs/{run.pk}/").json()["status"] == "queued"
    assert len(api["viewer"].get("/api/v1/detection-runs/?status=queued").json()["results"]) == 1
    bad = api["analyst"].post("/api/v1/detection-runs/", {"since": "tuesday"}, format="json")
    assert bad.status_code == 400


def test_packets_start_progress_download(api, world, tmp_path):
    pytest.importorskip("campaigns.evidence.service", reason="evidence service not in the tree yet")
    url = f"/api/v1/campaigns/{world['campaign'].pk}/packets/"
    assert api["analyst"].post(url, {"reason": "legal"}, format="json").status_code == 403
    with mock.patch("campaigns.tasks.export_packet.delay"):
        response = api["lead"].post(url, {"reason": "for legal"}, format="json")
    assert response.status_code == 202, response.content
    packet = EvidencePacket.objects.get(pk=response.json()["id"])
    event = AuditEvent.objects.filter(action="packet.request").latest("id")
    assert event.actor_name == "lead-user" and event.reason == "for legal"
    download = f"/api/v1/packets/{packet.pk}/download/"
    assert api["viewer"].get(download).status_code == 409
    zip_path = tmp_path / "p.zip"
    zip_path.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    EvidencePacket.objects.filter(pk=packet.pk).update(status="done", path=str(zip_path))
    assert api["viewer"].get(f"/api/v1/packets/{packet.pk}/").json()["download"] == download
    response = api["viewer"].get(download)
    assert response.status_code == 200 and b"".join(response.streaming_content).startswith(b"PK")
    assert api["viewer"].get(url).json()["results"][0]["id"] == packet.pk
    assert api["viewer"].get("/api/v1/packets/public-key/").content.startswith(b"-----BEGIN PUBLIC KEY")


def test_create_user_prints_a_token_that_works_and_is_audited(api):
    out = io.StringIO()
    call_command("create_user", "enforcer", "--role", "viewer", "--token", stdout=out, stderr=io.StringIO())
    token = out.getvalue().strip()
    assert len(token) == 40
    api[None].credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api[None].get("/api/v1/me/").json() == {"username": "enforcer", "role": "viewer", "may": []}
    assert AuditEvent.objects.get(action="user.create").data == {"username": "enforcer", "role": "viewer"}
    assert AuditEvent.objects.filter(action="token.create").count() == 1
    call_command("create_user", "enforcer", "--role", "lead", stdout=io.StringIO(), stderr=io.StringIO())
    assert AuditEvent.objects.get(action="user.role").data == {"username": "enforcer", "from": "viewer", "to": "lead"}
    assert api[None].get("/api/v1/me/").json()["role"] == "lead"
