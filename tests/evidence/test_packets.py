"""Evidence packets end to end: built from ingested logs and real campaign services, then
checked, tampered with, validated, read back and compared."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import shutil
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from campaigns.errors import InvalidInput
from campaigns.evidence import manifest as manifest_mod
from campaigns.evidence import service
from campaigns.evidence.csvs import REQUEST_COLUMNS
from campaigns.evidence.redaction import Redactor
from campaigns.evidence.verify import verify_packet
from campaigns.models import AuditEvent, EvidencePacket
from tests.evidence.conftest import World, build_world, empty_database

EXPECTED_FILES = {
    "manifest.json", "manifest.sig", "public_key.pem", "README.txt", "report.html", "report.pdf", "members.csv",
    "api_keys.csv", "sessions.csv", "infrastructure.csv", "timeline_hourly.csv", "requests.csv.gz",
    "prompt_excerpts.csv", "signals.json", "custody.jsonl", "stix-bundle.json",
}


@dataclass
class Built:
    world: World
    dir: Path
    redacted: Path
    clear: Path
    same_a: Path
    same_b: Path
    later: Path
    packet: EvidencePacket
    clear_packet: EvidencePacket

# Every test here reads the module's database, through ``built`` if not ``db_access``: the
# mark makes pytest-django set up the test database even when only such tests are selected.
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def built(django_db_setup, django_db_blocker, tmp_path_factory):
    """One campaign and its packets, built once for the module (building takes seconds)."""
    tmp = tmp_path_factory.mktemp("ev")
    with django_db_blocker.unblock(), override_settings(EVIDENCE_DIR=tmp / "evidence"):
        try:
            world = build_world(tmp)
            packet = service.export_now(world.campaign, tmp / "redacted.zip", user=world.lead)
            clear_packet = service.export_now(world.campaign, tmp / "clear.zip", user=world.lead, redacted=False,
                                              reason="Court order 2026-117 requires identities")
            snapshot = packet.snapshot_event_id
            service.build_packet(world.campaign.pk, tmp / "a.zip", snapshot_event_id=snapshot, actor=world.lead)
            service.build_packet(world.campaign.pk, tmp / "b.zip", snapshot_event_id=snapshot, actor=world.lead)
            service.export_now(world.campaign, tmp / "later.zip", user=world.lead)
            yield Built(world, tmp, tmp / "redacted.zip", tmp / "clear.zip", tmp / "a.zip", tmp / "b.zip",
                        tmp / "later.zip", packet, clear_packet)
        finally:
            empty_database()


@pytest.fixture
def db_access(built, db):
    """The module's data, inside a transaction that is rolled back after the test."""
    with override_settings(EVIDENCE_DIR=built.dir / "evidence"):
        yield


def read(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(name)


def rewrite(src: Path, dst: Path, change) -> Path:
    """Copy a packet, letting ``change(name, data)`` return new bytes, or None to drop the entry."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info, data)
    return dst


# --- a packet holds what it must, and checks out -----------------------------------------
def test_packet_holds_every_file_and_verifies(built):
    with zipfile.ZipFile(built.redacted) as zf:
        assert set(zf.namelist()) == EXPECTED_FILES
    assert verify_packet(built.redacted) == []
    manifest = json.loads(read(built.redacted, "manifest.json"))
    assert manifest["redaction"]["mode"] == "on" and manifest["created_by"] == "lena_lead"
    assert manifest["campaign"]["name"] == "Hydra Test Campaign" and manifest["campaign"]["member_accounts"] == 6
    assert manifest["packet_id"] == built.packet.pk and manifest["window"]["start"].startswith("2026-04-22")
    assert {f["path"] for f in manifest["files"]} == EXPECTED_FILES - {"manifest.json", "manifest.sig"}


def test_requests_file_holds_every_request_of_the_members(built):
    rows = gzip.decompress(read(built.redacted, "requests.csv.gz")).decode().splitlines()
    # 6 members x 3 days x 12 two-hourly requests; the unlinked account and the bystander are not in it
    assert len(rows) - 1 == 6 * 3 * 12
    assert not any("acct_good" in r for r in rows)


def test_requests_file_is_in_time_order_by_slices_that_cover_the_window(built, db_access):
    from campaigns.evidence import csvs

    rows = list(csv.reader(io.StringIO(gzip.decompress(read(built.redacted, "requests.csv.gz")).decode())))[1:]
    assert [(r[1], r[0]) for r in rows] == sorted((r[1], r[0]) for r in rows)
    scope = csvs.scope_for(built.world.campaign.pk)
    slices = csvs.time_slices(scope)
    assert slices[0][0] == scope.start and slices[-1][1] > scope.end
    assert all(hi == next_lo for (_, hi), (next_lo, _) in itertools.pairwise(slices))


def test_slices_are_cut_by_the_campaigns_hourly_rollup_and_at_most_a_day_long(built, db_access, monkeypatch):
    from campaigns.evidence import csvs

    scope = csvs.scope_for(built.world.campaign.pk)
    # every member sends one request every two hours: 6 requests in every other hour
    monkeypatch.setattr(csvs, "ROWS_PER_SLICE", 6)
    by_rollup = csvs.time_slices(scope)
    assert {hi - lo for lo, hi in by_rollup[1:-1]} == {timedelta(hours=2)}
    with connection.cursor() as cur:  # as if the traffic was loaded after the rollup was last rebuilt
        cur.execute("DELETE FROM campaign_hour WHERE campaign_id = %s", [built.world.campaign.pk])
    by_day = csvs.time_slices(scope)
    assert len(by_day) == 3 and all(hi - lo <= timedelta(hours=24) for lo, hi in by_day)
    assert by_day[0][0] == scope.start and by_day[-1][1] > scope.end


def test_requests_made_by_parallel_connections_come_out_in_one_order(built, db_access, tmp_path, monkeypatch):
    from campaigns.evidence import csvs

    scope = csvs.scope_for(built.world.campaign.pk)
    monkeypatch.setattr(csvs, "ROWS_PER_SLICE", 6)  # a slice per busy hour, so three streams overlap
    files = {}
    for streams in (1, 3):
        monkeypatch.setattr(csvs, "REQUEST_STREAMS", streams)
        files[streams] = tmp_path / f"requests-{streams}.csv.gz"
        assert csvs.write_requests(files[streams], scope, Redactor.for_packet(True)) > 3 * streams
    assert files[1].read_bytes() == files[3].read_bytes()
    with gzip.open(files[3], "rt") as fh:  # concatenated gzip members read as one stream
        assert fh.read().splitlines() == gzip.decompress(read(built.redacted, "requests.csv.gz")).decode().splitlines()


def _connections_gone(application_name: str) -> bool:
    """Whether no backend of that name is left. A closed connection's backend exits a moment
    after the client hangs up (longer on a busy machine), so this waits up to 10 s for it."""
    from copycat.db import side_connection

    def count() -> int:
        with side_connection("test-probe") as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                                [application_name]).fetchone()[0]

    deadline = time.monotonic() + 10
    while count() and time.monotonic() < deadline:
        time.sleep(0.1)
    return count() == 0


def test_every_rows_address_tokens_are_those_of_its_address_in_clear(built, db_access, tmp_path, monkeypatch):
    """Each stream digests an address once, when a slice first meets it, and rows take the token
    from there: with many slices on two streams, every row's tokens are its own address's."""
    from campaigns.evidence import csvs

    monkeypatch.setattr(csvs, "ROWS_PER_SLICE", 6)
    scope = csvs.scope_for(built.world.campaign.pk)
    redactor = Redactor.for_packet(True)
    assert csvs.write_requests(tmp_path / "requests.csv.gz", scope, redactor) > 2 * csvs.REQUEST_STREAMS
    redacted = list(csv.reader(io.StringIO(gzip.decompress((tmp_path / "requests.csv.gz").read_bytes()).decode())))
    clear = list(csv.reader(io.StringIO(gzip.decompress(read(built.clear, "requests.csv.gz")).decode())))
    ip, net = REQUEST_COLUMNS.index("ip"), REQUEST_COLUMNS.index("ip_network")
    assert [r[0] for r in redacted] == [r[0] for r in clear] and len(clear) > 100
    assert [(r[ip], r[net]) for r in redacted[1:]] == [(redactor.ip(r[ip]), redactor.network(r[ip])) for r in clear[1:]]
    assert len({r[ip] for r in clear[1:]}) < len(clear) / 4  # addresses do repeat across slices
    assert _connections_gone("copycat-packet-requests")


def test_a_packet_that_fails_while_its_requests_are_grouped_cancels_the_grouping(built, db_access, tmp_path,
                                                                                 monkeypatch):
    import threading

    from campaigns.evidence import csvs
    from copycat.db import side_connection

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(csvs, "write_members", fail)
    with side_connection("test-lock") as holder:
        # The grouping waits on this lock; it is let go after 20 s even if the build never cancels.
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE request IN ACCESS EXCLUSIVE MODE")
        release = threading.Timer(20, lambda: holder.execute("ROLLBACK"))
        release.start()
        started = time.monotonic()
        try:
            with pytest.raises(RuntimeError, match="disk full"):
                service.build_packet(built.world.campaign.pk, tmp_path / "p.zip")
            elapsed = time.monotonic() - started
        finally:
            release.cancel()
            if holder.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                holder.execute("ROLLBACK")
    assert elapsed < 10, f"the failed build waited {elapsed:.0f} s for its grouping query"
    assert _connections_gone("copycat-packet-traffic")
    assert not list(tmp_path.iterdir())


def test_verify_command_exit_codes(built, tmp_path, capsys):
    call_command("verify_packet", str(built.redacted))
    assert "valid" in capsys.readouterr().out
    bad = rewrite(built.redacted, tmp_path / "bad.zip", lambda n, d: None if n == "sessions.csv" else d)
    with pytest.raises(SystemExit) as exit_:
        call_command("verify_packet", str(bad))
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert "FAIL sessions.csv: listed in the manifest but missing from the packet" in out and "INVALID" in out


# --- tampering shows, and says what -------------------------------------------------------
def _flip_byte(data: bytes) -> bytes:
    i = len(data) // 2
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


def test_a_changed_byte_in_a_csv_is_named(built, tmp_path):
    bad = rewrite(built.redacted, tmp_path / "bad.zip", lambda n, d: _flip_byte(d) if n == "members.csv" else d)
    problems = verify_packet(bad)
    assert len(problems) == 1 and problems[0].startswith("members.csv: SHA-256 is")
    assert "the file was changed" in problems[0]


def test_a_dropped_file_is_named(built, tmp_path):
    bad = rewrite(built.redacted, tmp_path / "bad.zip", lambda n, d: None if n == "requests.csv.gz" else d)
    assert verify_packet(bad) == ["requests.csv.gz: listed in the manifest but missing from the packet"]


def test_an_added_file_is_named(built, tmp_path):
    bad = rewrite(built.redacted, tmp_path / "bad.zip", lambda n, d: d)
    with zipfile.ZipFile(bad, "a") as zf:
        zf.writestr("notes-from-someone.txt", b"hello")
    assert verify_packet(bad) == ["notes-from-someone.txt: in the packet but not listed in the manifest (extra file)"]


def test_an_edited_custody_log_breaks_its_chain(built, tmp_path):
    def edit(name, data):
        if name != "custody.jsonl":
            return data
        lines = data.decode().splitlines(keepends=True)
        entry = json.loads(lines[1])
        entry["actor"] = "someone_else"
        lines[1] = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
        return "".join(lines).encode()

    problems = verify_packet(rewrite(built.redacted, tmp_path / "bad.zip", edit))
    assert any(p.startswith("custody.jsonl: SHA-256 is") for p in problems)
    assert any(p.startswith("custody.jsonl line 3: its prev hash") for p in problems), problems


def test_a_removed_custody_line_breaks_its_chain(built, tmp_path):
    def drop_first(name, data):
        return b"".join(data.splitlines(keepends=True)[1:]) if name == "custody.jsonl" else data

    problems = verify_packet(rewrite(built.redacted, tmp_path / "bad.zip", drop_first))
    assert any(p.startswith("custody.jsonl line 1: its prev hash") for p in problems), problems


def test_a_swapped_signature_fails(built, tmp_path):
    other = Ed25519PrivateKey.generate()
    bad = rewrite(built.redacted, tmp_path / "bad.zip",
                  lambda n, d: other.sign(read(built.redacted, "manifest.json")) if n == "manifest.sig" else d)
    problems = verify_packet(bad)
    assert len(problems) == 1 and problems[0].startswith("manifest.sig: the signature does not match manifest.json")


def test_a_resigned_manifest_with_another_key_is_caught(built, tmp_path):
    """Someone edits a file, fixes the manifest, and re-signs with their own key."""
    other = Ed25519PrivateKey.generate()
    other_pem = other.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    members = _flip_byte(read(built.redacted, "members.csv"))
    manifest = json.loads(read(built.redacted, "manifest.json"))
    for entry in manifest["files"]:
        if entry["path"] == "members.csv":
            entry["sha256"] = __import__("hashlib").sha256(members).hexdigest()
        if entry["path"] == "public_key.pem":
            entry["sha256"] = __import__("hashlib").sha256(other_pem).hexdigest()
            entry["size"] = len(other_pem)
    raw = manifest_mod.dumps(manifest)
    replaced = {"members.csv": members, "manifest.json": raw, "manifest.sig": other.sign(raw), "public_key.pem": other_pem}
    bad = rewrite(built.redacted, tmp_path / "bad.zip", lambda n, d: replaced.get(n, d))
    problems = verify_packet(bad)
    assert any(p.startswith("public_key.pem: key") and "not the key the manifest names" in p for p in problems)
    server_key = read(built.redacted, "public_key.pem")
    problems = verify_packet(bad, expect_key_pem=server_key)
    assert any("not by the expected key" in p for p in problems)
    assert verify_packet(built.redacted, expect_key_pem=server_key) == []


# --- sharing formats and the report -------------------------------------------------------
@pytest.mark.parametrize("which", ["redacted", "clear"])
def test_stix_bundle_is_valid_under_the_oasis_validator(built, which):
    from stix2validator import ValidationOptions, validate_string

    text = read(getattr(built, which), "stix-bundle.json").decode()
    result = validate_string(text, ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors]
    assert not result.errors
    types = {o["type"] for o in json.loads(text)["objects"]}
    assert {"campaign", "threat-actor", "infrastructure", "indicator", "relationship", "observed-data",
            "identity"} <= types
    patterns = [o["pattern"] for o in json.loads(text)["objects"] if o["type"] == "indicator"]
    assert any("x-copycat-payment-instrument:fingerprint = 'pay_shared_1'" in p for p in patterns)
    assert any("ipv4-addr:value ISSUBSET '198.51.100.0/24'" in p for p in patterns) == (which == "clear")


def test_the_reports_figures_agree_with_the_files(built):
    requests = len(gzip.decompress(read(built.redacted, "requests.csv.gz")).decode().splitlines()) - 1
    timeline = list(csv.DictReader(io.StringIO(read(built.redacted, "timeline_hourly.csv").decode())))
    assert sum(int(r["requests"]) for r in timeline) == requests == 6 * 3 * 12
    assert json.loads(read(built.redacted, "manifest.json"))["campaign"]["requests"] == requests
    html = read(built.redacted, "report.html").decode()
    assert f">{requests:,}<" in html
    prompts = list(csv.DictReader(io.StringIO(read(built.redacted, "prompt_excerpts.csv").decode())))
    assert len(prompts) > 20  # the report shows the first 20, by time
    shown = [p["excerpt"] for p in prompts if html.count(p["excerpt"])]
    assert shown == [p["excerpt"] for p in prompts[:20]]


def test_charts_sum_the_timeline_by_hour_weekday_and_day():
    from campaigns.evidence import charts
    from campaigns.evidence.csvs import HourRow

    sunday = datetime(2026, 4, 26, 13, tzinfo=UTC)
    monday = sunday + timedelta(days=1, hours=1)
    rows = [HourRow(sunday, "m1", "code", 5, 10, 20, 2, 0), HourRow(sunday, "m2", "math", 3, 1, 1, 0, 1),
            HourRow(monday, "m1", "code", 4, 1, 1, 1, 0)]
    assert charts.hourly(rows) == [(sunday, 8, 2), (monday, 4, 1)]
    assert charts.heat(rows) == {(0, 13): 8, (1, 14): 4}
    midnight = sunday.replace(hour=0)
    assert charts.model_by_day(rows) == [(midnight, "m1", 5), (midnight, "m2", 3),
                                         (midnight + timedelta(days=1), "m1", 4)]


def test_pdf_report_has_the_campaign_name_and_its_chart_pages(built):
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(read(built.redacted, "report.pdf")))
    pages = [page.extract_text() for page in reader.pages]
    assert "Hydra Test Campaign" in pages[0]
    assert len(pages) >= 5
    # each chart sits on its own page, with the SVG's own labels drawn into the PDF
    for heading, drawn in (("2. Timeline", "asking for reasoning"), ("3. Heat map", "darkest cell"),
                           ("4. Capability mix", "all traffic")):
        page = next((p for p in pages if heading in p), None)
        assert page is not None, f"no page with {heading}"
        assert drawn in page, f"the chart on the {heading} page was not drawn"
    for section in ("5. Shared infrastructure", "6. Members and their signals", "7. Sample prompts",
                    "8. Analyst notes"):
        assert any(section in p for p in pages), section


def test_html_report_is_self_contained(built):
    html = read(built.redacted, "report.html").decode()
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and html.count("<svg") == 4 and "<style>" in html


# --- personal data ------------------------------------------------------------------------
def _all_text(path: Path) -> dict[str, str]:
    from pypdf import PdfReader

    texts = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            data = zf.read(name)
            if name.endswith(".gz"):
                data = gzip.decompress(data)
            text = data.decode("latin-1")
            if name.endswith(".pdf"):
                text += "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
            texts[name] = text
    return texts


def test_a_redacted_packet_holds_no_raw_email_ip_or_prompt(built):
    from campaigns.evidence.redaction import EMAIL_RE, IPV4_RE

    for name, text in _all_text(built.redacted).items():
        for raw in built.world.raw_values:
            assert raw not in text, f"{raw!r} in {name}"
        assert not EMAIL_RE.search(text), f"an e-mail address in {name}: {EMAIL_RE.search(text).group(0)}"
        if name not in ("report.pdf", "manifest.sig"):
            assert not IPV4_RE.search(text), f"an IPv4 address in {name}: {IPV4_RE.search(text).group(0)}"


def test_the_clear_packet_does_hold_them_so_the_scan_above_can_see(built):
    texts = "\n".join(_all_text(built.clear).values())
    assert "acct.evil.00@mailbox-example.org" in texts and "198.51.100.7" in texts and "Think step by step" in texts


def test_a_value_gets_the_same_hash_in_every_file_and_in_sql(built, db_access):
    redactor = Redactor.for_packet(True)
    token, net = redactor.ip("198.51.100.8"), redactor.network("198.51.100.8")
    # hashed by PostgreSQL in the streamed files, by Python in the others (the note quotes it)
    for name in ("requests.csv.gz", "infrastructure.csv", "custody.jsonl", "report.html"):
        data = read(built.redacted, name)
        text = (gzip.decompress(data) if name.endswith(".gz") else data).decode()
        assert token in text, name
    assert redactor.ip("198.51.100.7") in read(built.redacted, "signals.json").decode()
    assert net in read(built.redacted, "infrastructure.csv").decode()
    assert net in gzip.decompress(read(built.redacted, "requests.csv.gz")).decode()


# --- determinism --------------------------------------------------------------------------
def test_two_packets_of_one_snapshot_have_identical_files(built):
    with zipfile.ZipFile(built.same_a) as a, zipfile.ZipFile(built.same_b) as b:
        assert a.namelist() == b.namelist()
        for name in a.namelist():
            if name in ("manifest.json", "manifest.sig"):
                continue
            assert a.read(name) == b.read(name), name
            assert a.getinfo(name).date_time == (1980, 1, 1, 0, 0, 0)
    ma, mb = (json.loads(read(p, "manifest.json")) for p in (built.same_a, built.same_b))
    assert manifest_mod.stable_part(ma) == manifest_mod.stable_part(mb)
    assert ma["created_at"] != mb["created_at"]


# --- roles, audit and custody -------------------------------------------------------------
def test_an_analyst_may_not_export(built, db_access):
    with pytest.raises(PermissionDenied, match="lead"):
        service.request_packet(built.world.campaign, user=built.world.analyst)
    with pytest.raises(PermissionDenied, match="lead"):
        service.request_packet(built.world.campaign, user=built.world.analyst, redacted=False, reason="because")


def test_a_packet_in_clear_needs_a_reason(built, db_access):
    with pytest.raises(InvalidInput, match="reason"):
        service.request_packet(built.world.campaign, user=built.world.lead, redacted=False, reason="  ")


def test_requested_packet_is_queued_on_commit_built_by_the_task_and_logged(
        built, db_access, monkeypatch, django_capture_on_commit_callbacks):
    from campaigns import tasks

    queued = []
    monkeypatch.setattr(tasks.export_packet, "delay", lambda packet_id: queued.append(packet_id))
    with django_capture_on_commit_callbacks(execute=True):
        packet = service.request_packet(built.world.campaign, user=built.world.lead, redacted=False,
                                        reason="Partner lab needs the addresses")
        assert queued == []  # nothing is sent before the row is committed
    assert queued == [packet.pk] and packet.status == "queued"
    event = AuditEvent.objects.filter(action="packet.request", object_id=str(packet.pk)).get()
    assert event.actor_name == "lena_lead" and event.reason == "Partner lab needs the addresses"
    assert event.data == {"redacted": False, "snapshot_event_id": packet.snapshot_event_id}

    done = service.execute_packet(packet.pk)
    assert (done.status, done.phase, done.progress) == ("done", "done", 1.0)
    assert Path(done.path).is_file() and Path(done.path).parent == built.dir / "evidence"
    assert verify_packet(done.path) == [] and done.manifest["redaction"]["reason"] == "Partner lab needs the addresses"
    assert done.heartbeat_at and done.started_at and done.finished_at and len(done.sha256) == 64
    assert service.execute_packet(packet.pk) is None  # already built: a redelivery does nothing
    assert AuditEvent.objects.filter(action="packet.built", object_id=str(packet.pk)).exists()


def test_exports_show_in_the_audit_trail_and_in_later_packets_custody(built):
    first = [json.loads(line) for line in read(built.redacted, "custody.jsonl").splitlines()]
    actions = [e["action"] for e in first]
    assert actions.count("membership.link") == 7 and "membership.unlink" in actions
    assert "note.add" in actions and "campaign.status" in actions
    later = [json.loads(line) for line in read(built.later, "custody.jsonl").splitlines()]
    exports = [(e["action"], e["object_id"]) for e in later if e["action"].startswith("packet.")]
    assert ("packet.request", str(built.packet.pk)) in exports and ("packet.built", str(built.packet.pk)) in exports
    clear = next(e for e in later if e["action"] == "packet.request" and e["object_id"] == str(built.clear_packet.pk))
    assert clear["reason"] == "Court order 2026-117 requires identities" and clear["data"]["redacted"] is False


# --- the command --------------------------------------------------------------------------
def test_export_command_refuses_clear_packets_without_a_lead_and_a_reason(built, db_access, tmp_path):
    name = built.world.campaign.name
    with pytest.raises(CommandError, match="--user"):
        call_command("export_packet", name, "--out", str(tmp_path / "x.zip"), "--redaction", "off", "--reason", "r")
    with pytest.raises(CommandError, match="lead"):
        call_command("export_packet", name, "--out", str(tmp_path / "x.zip"), "--redaction", "off", "--reason", "r",
                     "--user", "arno_analyst")
    with pytest.raises(CommandError, match="reason"):
        call_command("export_packet", name, "--out", str(tmp_path / "x.zip"), "--redaction", "off",
                     "--user", "lena_lead")
    with pytest.raises(CommandError, match="No campaign"):
        call_command("export_packet", "No Such Campaign", "--out", str(tmp_path / "x.zip"))
    assert not (tmp_path / "x.zip").exists()


def test_export_command_writes_a_valid_packet_by_id(built, db_access, tmp_path, capsys):
    call_command("export_packet", str(built.world.campaign.pk), "--out", str(tmp_path / "p.zip"))
    assert "Wrote" in capsys.readouterr().out and verify_packet(tmp_path / "p.zip") == []
    assert not list(tmp_path.glob(".*"))  # no temporary files left beside it


def test_signing_key_is_generated_once_with_private_permissions(built, db_access):
    key = built.dir / "evidence" / "signing-key.pem"
    assert key.is_file() and (key.stat().st_mode & 0o777) == 0o600
    assert service.public_key_pem() == read(built.redacted, "public_key.pem").decode()


def test_verify_reads_a_packet_copied_anywhere(built, tmp_path):
    copy = shutil.copy(built.clear, tmp_path / "copy.zip")
    assert verify_packet(copy) == []
