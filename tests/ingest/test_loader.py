"""The loader against real PostgreSQL: encodings, bad input, repeats, sessions, rollups."""

from __future__ import annotations

import gzip
import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection

from accounts.models import Account, AccountHour, ApiKey, Request, RequestKey, Session, TrafficHour
from ingest import services
from ingest.models import IngestRun, RejectedRecord
from tests.support.db import rebuild_traffic_values, staging_tables, traffic_values_table
from tests.support.logs import T0, account, many_requests, request, write_csv, write_jsonl

pytestmark = pytest.mark.django_db(transaction=True)


def ingest(path, kind=None) -> IngestRun:
    return services.ingest_path(str(path), kind=kind)


def test_each_sample_encoding_gives_the_same_four_requests(samples):
    first = ingest(samples / "requests-sample.jsonl")
    assert (first.status, first.loaded, first.duplicates) == ("done", 4, 0)
    for name in ("requests-sample.jsonl.gz", "requests-sample.csv", "requests-sample.parquet"):
        run = ingest(samples / name)
        assert (run.status, run.loaded, run.duplicates, run.conflicting_duplicates) == ("done", 0, 4, 0), name
    assert Request.objects.count() == 4
    assert Account.objects.get(account_id="acct_NEW0000001").is_placeholder


def test_accounts_sample_loads_three_accounts_sharing_a_card(samples):
    run = ingest(samples / "accounts-sample.jsonl")
    assert (run.status, run.loaded, run.updated) == ("done", 3, 0)
    cards = Account.objects.filter(payment_method="prepaid_card").values_list("payment_fingerprint", flat=True)
    assert len(cards) == 2 and len(set(cards)) == 1


def test_invalid_sample_rejects_eight_naming_the_field_and_loads_the_rest(samples):
    run = ingest(samples / "requests-invalid.jsonl")
    assert run.status == "done"
    assert (run.loaded, run.duplicates, run.rejected, run.blank_lines) == (1, 1, 8, 1)
    assert run.unknown_fields == {"some_future_field": 1}
    fields = dict(RejectedRecord.objects.filter(run=run).values_list("line", "field"))
    assert fields == {1: "ts", 2: "ip", 3: "input_tokens", 4: "account_id", 5: "input_tokens", 6: "country",
                      7: "_record", 8: "_line"}
    assert Request.objects.get().request_id == "req_ok_09"
    assert sum(run.rejected_by_reason.values()) == 8


def test_a_rejected_parquet_row_is_kept_as_json_of_its_row(tmp_path):
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [request("req_pq_ok"), request("req_pq_bad", input_tokens=-5)]
    path = tmp_path / "requests-bad.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    run = ingest(path)
    assert (run.status, run.loaded, run.rejected) == ("done", 1, 1)
    rejected = RejectedRecord.objects.get(run=run)
    assert (rejected.line, rejected.field) == (2, "input_tokens")
    assert json.loads(rejected.raw) == rows[1]


def _parquet_with_ts(path, timestamps, ts_type):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{k: v for k, v in request(f"req_ts_{i}").items() if k != "ts"} for i in range(len(timestamps))]
    column = timestamps if isinstance(timestamps, pa.Array) else pa.array(timestamps, pa.timestamp("us", "UTC"))
    pq.write_table(pa.Table.from_pylist(rows).append_column("ts", column.cast(ts_type)), path)
    return path


def test_parquet_nanosecond_timestamps_load_cut_to_microseconds(tmp_path):
    import pyarrow as pa

    when = T0 + timedelta(seconds=1, microseconds=123456)
    nanoseconds = pa.array([int(when.timestamp()) * 10**9 + 123_456_789], pa.timestamp("ns", "UTC"))
    run = ingest(_parquet_with_ts(tmp_path / "requests-ns.parquet", nanoseconds, pa.timestamp("ns", "UTC")))
    assert (run.status, run.loaded, run.rejected) == ("done", 1, 0)
    assert Request.objects.get().ts == when


@pytest.mark.parametrize("zone, values, words", [
    ("+05:00", [T0, datetime(9999, 12, 31, 23, tzinfo=UTC)], "cannot be read as a timestamp[us, tz=+05:00] value"),
    ("Mars/Olympus", [T0, T0 + timedelta(minutes=1)], "time zone this machine does not know: Mars/Olympus"),
])
def test_parquet_timestamps_python_cannot_hold_are_rejected_naming_ts(tmp_path, zone, values, words):
    import pyarrow as pa

    run = ingest(_parquet_with_ts(tmp_path / "requests-tz.parquet", values, pa.timestamp("us", zone)))
    readable = 1 if zone == "+05:00" else 0
    assert (run.status, run.loaded, run.rejected) == ("done", readable, len(values) - readable)
    reasons = set(RejectedRecord.objects.filter(run=run).values_list("field", "reason"))
    assert all(field == "ts" and words in reason for field, reason in reasons), reasons


@pytest.mark.parametrize("name, words", [("requests-not-gzip.jsonl.gz", "not a gzip"),
                                         ("requests-truncated.jsonl.gz", "truncated")])
def test_unreadable_sample_fails_as_a_whole_and_loads_nothing(samples, name, words):
    run = ingest(samples / name)
    assert run.status == "failed" and words in run.reason
    assert Request.objects.count() == 0 and Account.objects.count() == 0


def test_truncated_archive_after_many_good_batches_leaves_nothing_loaded(tmp_path, settings):
    settings.INGEST_BATCH_SIZE = 500
    settings.INGEST_CHUNK_ROWS = 1000  # several chunks are merged before the damage is found
    path = write_jsonl(tmp_path / "requests-big.jsonl.gz", list(many_requests(5000)), gz=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 200])
    run = ingest(path)
    assert run.status == "failed" and "truncated" in run.reason
    assert run.records >= 1000 and run.loaded == 0  # it read whole batches before the end was found
    for model in (Request, RequestKey, Account, ApiKey, Session, AccountHour, TrafficHour, RejectedRecord):
        assert model.objects.count() == 0, model.__name__
    assert staging_tables() == []  # the chunks it staged and merged went with the transaction


def test_reingesting_a_file_loads_nothing_new(tmp_path):
    path = write_jsonl(tmp_path / "requests-a.jsonl", list(many_requests(300)))
    assert ingest(path).loaded == 300
    again = ingest(path)
    assert (again.loaded, again.duplicates, again.conflicting_duplicates) == (0, 300, 0)
    assert Request.objects.count() == 300
    assert sum(AccountHour.objects.values_list("requests", flat=True)) == 300


def test_overlapping_files_load_each_request_once(tmp_path):
    rows = list(many_requests(400))
    a = write_jsonl(tmp_path / "requests-a.jsonl", rows[:250])
    b = write_csv(tmp_path / "requests-b.csv", rows[150:])
    assert ingest(a).loaded == 250
    run_b = ingest(b)
    assert (run_b.loaded, run_b.duplicates) == (150, 100)
    assert Request.objects.count() == 400 == RequestKey.objects.count()


def test_a_repeat_with_other_content_is_a_conflicting_duplicate_and_the_first_wins(tmp_path):
    first = write_jsonl(tmp_path / "requests-1.jsonl", [request("r1", 0, input_tokens=5), request("r2", 1)])
    second = write_jsonl(tmp_path / "requests-2.jsonl", [request("r1", 0, input_tokens=999), request("r2", 1),
                                                         request("r3", 2), request("r3", 2, output_tokens=1)])
    ingest(first)
    run = ingest(second)
    assert (run.loaded, run.duplicates, run.conflicting_duplicates) == (1, 3, 2)
    assert Request.objects.get(request_id="r1").input_tokens == 5
    assert Request.objects.get(request_id="r3").output_tokens == 200


def test_placeholder_account_is_filled_by_a_later_record(tmp_path):
    ingest(write_jsonl(tmp_path / "requests-1.jsonl", [request("r1", 0, account="acct_LATE")]))
    placeholder = Account.objects.get(account_id="acct_LATE")
    assert placeholder.is_placeholder and placeholder.request_count == 1
    run = ingest(write_jsonl(tmp_path / "accounts-1.jsonl", [account("acct_LATE", email="x@example.com")]))
    assert (run.loaded, run.updated) == (1, 0)
    filled = Account.objects.get(account_id="acct_LATE")
    assert not filled.is_placeholder and filled.email == "x@example.com" and filled.request_count == 1


def test_later_account_record_replaces_only_the_fields_it_carries(tmp_path):
    records = [
        account("acct_U", email="a@example.com", plan="free", org_id="org_1"),
        account("acct_U", plan="build"),
        account("acct_U", plan="build"),
        account("acct_U", status="SUSPENDED"),
    ]
    run = ingest(write_jsonl(tmp_path / "accounts-u.jsonl", records))
    assert (run.loaded, run.updated, run.duplicates) == (1, 2, 1)
    acct = Account.objects.select_related("org").get(account_id="acct_U")
    assert (acct.email, acct.plan, acct.status, acct.org.value) == ("a@example.com", "build", "suspended", "org_1")
    again = ingest(write_jsonl(tmp_path / "accounts-u2.jsonl", records[-1:]))
    assert (again.loaded, again.updated, again.duplicates) == (0, 0, 1)


def _sessions_by_hand(minutes_by_key: dict) -> set:
    sessions = set()
    for (acct, key), minutes in minutes_by_key.items():
        minutes = sorted(minutes)
        start = prev = minutes[0]
        count = 1
        for m in minutes[1:]:
            if m - prev >= 30:
                sessions.add((acct, key, start, prev, count))
                start, count = m, 0
            prev = m
            count += 1
        sessions.add((acct, key, start, prev, count))
    return sessions


def test_sessions_are_the_same_whatever_order_the_files_come_in(tmp_path):
    rng = random.Random(7)
    rows, minutes_by_key = [], {}
    for i in range(600):
        acct, key = f"acct_{rng.randrange(4)}", rng.choice(["k1", "k2", None])
        minute = rng.choice([rng.uniform(0, 600), rng.uniform(2000, 2100)])
        minute = round(minute, 3)
        rows.append(request(f"s{i}", minute, account=acct, api_key_id=f"{acct}-{key}" if key else None))
        minutes_by_key.setdefault((acct, f"{acct}-{key}" if key else None), []).append(minute)
    rng.shuffle(rows)
    for n, chunk in enumerate(rows[i:i + 97] for i in range(0, len(rows), 97)):
        ingest(write_jsonl(tmp_path / f"requests-{n}.jsonl", chunk))
    got = set()
    for s in Session.objects.select_related("account", "api_key"):
        start = round((s.started_at - T0).total_seconds() / 60, 3)
        end = round((s.ended_at - T0).total_seconds() / 60, 3)
        got.add((s.account.account_id, s.api_key.key_id if s.api_key else None, start, end, s.request_count))
    assert got == _sessions_by_hand(minutes_by_key)


def test_a_gap_of_exactly_thirty_minutes_starts_a_new_session(tmp_path):
    ingest(write_jsonl(tmp_path / "requests-g.jsonl", [request("g1", 0), request("g2", 29.99), request("g3", 59.99)]))
    assert sorted(Session.objects.values_list("request_count", flat=True)) == [1, 2]


def test_sessions_run_across_half_hour_boundaries_and_break_only_at_thirty_minute_gaps(tmp_path):
    # The loader sums rows into 30-minute bins first; these gaps straddle bin edges (T0 is one).
    minutes = [25, 54.99, 84.98, 115, 116, 146.5]
    ingest(write_jsonl(tmp_path / "requests-b.jsonl", [request(f"b{i}", m) for i, m in enumerate(minutes)]))
    got = [(round((s.started_at - T0).total_seconds() / 60, 3), round((s.ended_at - T0).total_seconds() / 60, 3),
            s.request_count) for s in Session.objects.order_by("started_at")]
    assert got == [(25, 84.98, 3), (115, 116, 2), (146.5, 146.5, 1)]


TRICKY = ["tab\there", "line\nbreak", "cr\rhere", "back\\slash", "\\N", "N", "ünïcødé ✓", "\b\v\f", "a\\tb"]


def test_strings_with_tabs_line_breaks_and_backslashes_load_as_given(tmp_path):
    rows = [request(f"t{i}", i, user_agent=text, client_fingerprint=text, prompt_excerpt=text, org_id=text)
            for i, text in enumerate(TRICKY)]
    run = ingest(write_jsonl(tmp_path / "requests-t.jsonl", rows))
    assert (run.status, run.loaded, run.rejected) == ("done", len(TRICKY), 0)
    with connection.cursor() as cur:
        cur.execute("""SELECT r.request_id, ua.value, cf.value, o.value, e.excerpt FROM request r
                       JOIN lookup_user_agent ua ON ua.id = r.user_agent_id
                       JOIN lookup_client_fingerprint cf ON cf.id = r.client_fingerprint_id
                       JOIN org o ON o.id = r.org_id
                       JOIN request_excerpt e ON e.request_id = r.request_id""")
        got = {row[0]: row[1:] for row in cur.fetchall()}
    assert got == {f"t{i}": (text,) * 4 for i, text in enumerate(TRICKY)}


def test_rollups_count_what_the_request_table_holds(tmp_path):
    rows = [request(f"h{i}", i * 7, account=f"acct_{i % 3}", category=["coding", None, "math"][i % 3],
                    reasoning_requested=i % 2 == 0, status_code=500 if i % 5 == 0 else 200) for i in range(120)]
    ingest(write_jsonl(tmp_path / "requests-h.jsonl", rows[:70]))
    ingest(write_jsonl(tmp_path / "requests-h2.jsonl", rows[50:]))
    with connection.cursor() as cur:
        cur.execute("""SELECT account_id, date_trunc('hour', ts), model_id, coalesce(category_id, 0), count(*),
                              sum(input_tokens), count(*) FILTER (WHERE reasoning_requested),
                              count(*) FILTER (WHERE status_code >= 400)
                       FROM request GROUP BY 1, 2, 3, 4""")
        expected = set(cur.fetchall())
        cur.execute("""SELECT account_id, hour, model_id, category_id, requests, input_tokens, reasoning_requests,
                              error_requests FROM account_hour""")
        assert set(cur.fetchall()) == expected
    assert sum(TrafficHour.objects.values_list("requests", flat=True)) == 120
    acct = Account.objects.get(account_id="acct_0")
    assert acct.request_count == 40
    assert acct.first_request_at == T0 and acct.last_request_at == T0 + timedelta(minutes=117 * 7)


def test_traffic_value_rollup_counts_each_new_request_once(tmp_path):
    # Two overlapping files, out of order: the rollup kept by ingest is what a recount of the
    # request table gives (the migration's backfill), repeats not counted twice.
    rows = [request(f"v{i}", (i * 37) % 300, account=f"acct_{i % 4}", template_hash=["tpl_a", "tpl_b", None][i % 3],
                    client_fingerprint=None if i % 5 == 0 else f"cf_{i % 2}") for i in range(90)]
    ingest(write_jsonl(tmp_path / "requests-v1.jsonl", rows[40:]))
    ingest(write_jsonl(tmp_path / "requests-v2.jsonl", rows[:60]))
    kept = traffic_values_table()
    rebuild_traffic_values()
    assert traffic_values_table() == kept
    by_kind: dict[int, int] = {}
    for kind, _value, _account, first, last, n in kept:
        assert first <= last
        by_kind[kind] = by_kind.get(kind, 0) + n
    assert by_kind == {1: 60, 2: 72}  # requests with a template; with a client fingerprint


def test_unknown_fields_are_counted_per_name(tmp_path):
    rows = [request("u1", 0, extra_a=1), request("u2", 1, extra_a=2, extra_b="x"), request("u3", 2, extra_b=None)]
    run = ingest(write_jsonl(tmp_path / "requests-u.jsonl", rows))
    assert run.loaded == 3 and run.unknown_fields == {"extra_a": 2, "extra_b": 1}


def test_empty_files_load_nothing_and_are_not_failures(tmp_path):
    empty = tmp_path / "requests-empty.jsonl"
    empty.write_text("")
    blank = tmp_path / "requests-blank.jsonl"
    blank.write_text("\n\n  \n")
    header = tmp_path / "accounts-header.csv"
    header.write_text("account_id,created_at\n")
    gz = tmp_path / "requests-empty.jsonl.gz"
    gz.write_bytes(gzip.compress(b""))
    for path in (empty, blank, header, gz):
        run = ingest(path)
        assert (run.status, run.loaded, run.rejected) == ("done", 0, 0), path.name


def test_kind_can_be_stated_when_the_name_does_not_say(tmp_path):
    path = write_jsonl(tmp_path / "gateway-export.jsonl", [request("k1")])
    failed = ingest(path)
    assert failed.status == "failed" and "--kind" in failed.reason
    assert ingest(path, kind="requests").loaded == 1


def test_requests_land_in_monthly_partitions(tmp_path):
    ingest(write_jsonl(tmp_path / "requests-p.jsonl", [request("p1", 0), request("p2", 60 * 24 * 20)]))
    with connection.cursor() as cur:
        cur.execute("SELECT tableoid::regclass::text, count(*) FROM request GROUP BY 1 ORDER BY 1")
        assert cur.fetchall() == [("request_y2026m04", 1), ("request_y2026m05", 1)]


def test_a_month_first_met_in_a_later_chunk_gets_its_partition_without_hanging(tmp_path, settings):
    # The first chunk (a fifth of INGEST_CHUNK_ROWS) holds only one month; a later one reaches
    # a month with no partition yet, after this load already wrote to request. Creating it on
    # the side connection then waited on this load's own transaction, for ever.
    settings.INGEST_BATCH_SIZE = 50
    settings.INGEST_CHUNK_ROWS = 500
    march = [request(f"m{i}", 60 * 24 * 400 + i) for i in range(300)]
    april = [request(f"n{i}", 60 * 24 * 431 + i) for i in range(300)]
    run = ingest(write_jsonl(tmp_path / "requests-months.jsonl", march + april))
    assert (run.status, run.loaded) == ("done", 600)
    with connection.cursor() as cur:
        cur.execute("SELECT tableoid::regclass::text, count(*) FROM request GROUP BY 1 ORDER BY 1")
        assert cur.fetchall() == [("request_y2027m05", 300), ("request_y2027m06", 300)]


def test_a_file_waiting_for_the_merge_lock_is_read_and_staged_to_its_end(tmp_path, settings):
    # Another file's merge holds the lock. This file's reader must not stop once its queue of
    # batches ahead is full (32 of them; this file has 100): the whole file is staged before
    # its first merge, and the merges run once the lock is free.
    import threading
    import time

    from copycat.db import side_connection
    from ingest.loader.core import MERGE_LOCK_KEY

    settings.INGEST_BATCH_SIZE = 20
    settings.INGEST_CHUNK_ROWS = 100
    path = write_jsonl(tmp_path / "requests-wait.jsonl", list(many_requests(2000)))
    holder = side_connection("test-merge-lock-holder")
    holder.execute("SELECT pg_advisory_lock(%s)", [MERGE_LOCK_KEY])
    done: list[IngestRun] = []

    def load() -> None:
        try:
            done.append(ingest(path))
        finally:
            connection.close()

    worker = threading.Thread(target=load)
    worker.start()
    try:
        deadline, run = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            run = IngestRun.objects.filter(path=str(path)).first()
            if run is not None and run.phase == "waiting to merge":
                break
            time.sleep(0.2)
        assert run is not None and (run.phase, run.records) == ("waiting to merge", 2000)
        assert Request.objects.count() == 0  # nothing merged while the lock was held elsewhere
    finally:
        holder.execute("SELECT pg_advisory_unlock(%s)", [MERGE_LOCK_KEY])
        holder.close()
        worker.join(60)
    assert (done[0].status, done[0].loaded) == ("done", 2000)
    assert Request.objects.count() == 2000 and staging_tables() == []


def test_a_load_leaves_the_time_index_summarized(tmp_path):
    # A BRIN range with no summary matches every time window; nothing summarizes it where
    # autovacuum is off, so ingest does, or window reads scan whole partitions.
    from copycat.db import summarize_block_ranges

    run = ingest(write_jsonl(tmp_path / "requests-brin.jsonl", list(many_requests(4000))))
    assert run.loaded == 4000
    with connection.cursor() as cur:
        cur.execute("SELECT pg_relation_size('request_y2026m04') / 8192")
        assert cur.fetchone()[0] > 32  # more than one block range
    assert summarize_block_ranges("request_y%") == 0  # the load left none to summarize


def _analyzed(table: str):
    with connection.cursor() as cur:
        cur.execute("SELECT greatest(last_analyze, last_autoanalyze) FROM pg_stat_user_tables WHERE relname = %s",
                    [table])
        return cur.fetchone()[0]


def test_a_load_leaves_fresh_planner_statistics_on_what_it_grew(tmp_path):
    # Timelines and neighbour lookups are planned from these; a new partition has none at all.
    from ingest.services import refresh_statistics

    ingest(write_jsonl(tmp_path / "requests-s.jsonl", many_requests(3000)))
    with connection.cursor() as cur:
        cur.execute("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'request_y2026m04'")
        assert cur.fetchone()[0] < 3000 * 0.2
    first = _analyzed("request_y2026m04")
    assert first is not None and _analyzed("request_key") is not None
    assert refresh_statistics() == []  # nothing changed since: nothing sampled again
    assert _analyzed("request_y2026m04") == first


def test_tables_rewritten_in_place_are_vacuumed_once_mostly_dead(tmp_path):
    # Each batch rewrites the accounts it touches; with autovacuum off or behind, the account
    # list would read mostly dead rows.
    from ingest.services import refresh_statistics

    ingest(write_jsonl(tmp_path / "requests-v.jsonl", many_requests(300)))
    with connection.cursor() as cur:
        for _ in range(3):
            cur.execute("UPDATE account SET request_count = request_count + 0")
        cur.execute("SELECT pg_stat_force_next_flush()")
        cur.execute("SELECT n_live_tup, n_dead_tup, last_vacuum FROM pg_stat_user_tables WHERE relname = 'account'")
        live, dead, vacuumed = cur.fetchone()
    assert dead > live and vacuumed is None
    refresh_statistics(min_dead_rows=1)
    with connection.cursor() as cur:
        cur.execute("SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'account'")
        assert cur.fetchone()[0] is not None


def test_repeats_across_merge_chunks_of_one_file_are_counted_once(tmp_path, settings):
    settings.INGEST_BATCH_SIZE = 100
    settings.INGEST_CHUNK_ROWS = 200
    rows = list(many_requests(1000))
    repeats = [dict(r) for r in rows[:50]] + [dict(rows[60], input_tokens=1)]
    run = ingest(write_jsonl(tmp_path / "requests-chunks.jsonl", rows + repeats))
    assert (run.loaded, run.duplicates, run.conflicting_duplicates) == (1000, 51, 1)
    assert Request.objects.count() == 1000
    assert Request.objects.get(request_id=rows[60]["request_id"]).input_tokens == 100
    assert sum(Session.objects.values_list("request_count", flat=True)) == 1000
    assert staging_tables() == []


def test_the_reaper_drops_staging_tables_whose_connection_is_gone():
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        live = cur.fetchone()[0]
        dead = 4_194_400  # above Linux's highest pid: no backend has it
        for pid in (live, dead):
            cur.execute(f"CREATE UNLOGGED TABLE ingest_stage.r7_p{pid}_0_rows (line bigint)")
        cur.execute("CREATE TABLE ingest_stage.not_a_chunk (x int)")  # not the loader's: left alone
    try:
        assert services.drop_orphan_staging() == 1
        assert staging_tables() == ["not_a_chunk", f"r7_p{live}_0_rows"]
    finally:
        with connection.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS ingest_stage.not_a_chunk, ingest_stage.r7_p{live}_0_rows")


def test_an_unexpected_error_mid_file_fails_the_run_with_its_reason_and_leaves_nothing(tmp_path, settings,
                                                                                       monkeypatch):
    from ingest.loader.requests import RequestLoader

    def broken_finish(self):
        raise RuntimeError("rollups broke")

    monkeypatch.setattr(RequestLoader, "finish", broken_finish)  # a fault of ours, injected after the merges
    settings.INGEST_BATCH_SIZE = 100
    settings.INGEST_CHUNK_ROWS = 500
    run = ingest(write_jsonl(tmp_path / "requests-fault.jsonl", list(many_requests(2000))))
    assert run.status == "failed"  # not left running for the reaper to queue again
    assert "internal error" in run.reason and "RuntimeError: rollups broke" in run.reason
    assert Request.objects.count() == 0 and RequestKey.objects.count() == 0 and Account.objects.count() == 0
    assert staging_tables() == []


@pytest.mark.parametrize("statement, status, says", [
    # Raised by PostgreSQL itself, as a full disk would: the file is fine, a later attempt can load it.
    ("DO $$ BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END $$", "interrupted",
     "the database server ran out of resources (disk, memory or connections): SQLSTATE 53100: could not extend file"),
    # A statement of ours the server refuses: retrying cannot help, so the run fails and says why.
    ("SELECT 1 / 0", "failed", "internal error, nothing from the file was loaded (SQLSTATE 22012: division by zero)"),
])
def test_a_server_error_mid_file_ends_the_run_with_what_the_server_said(tmp_path, settings, monkeypatch,
                                                                          statement, status, says):
    from ingest.loader.requests import RequestLoader

    def failing_finish(self):
        self._cursor.execute(statement)

    monkeypatch.setattr(RequestLoader, "finish", failing_finish)  # after the merges, inside the load's transaction
    settings.INGEST_BATCH_SIZE = 100
    settings.INGEST_CHUNK_ROWS = 500
    run = services.create_run(str(write_jsonl(tmp_path / "requests-server.jsonl", list(many_requests(2000)))),
                              kind=None, source=IngestRun.Source.TASK)
    if status == "interrupted":
        with pytest.raises(psycopg.OperationalError):  # the task retries on it
            services.execute_run(run.pk)
    else:
        services.execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == status
    assert says in run.reason
    assert Request.objects.count() == 0 and RequestKey.objects.count() == 0 and Account.objects.count() == 0
    assert staging_tables() == []
    with services.claimed_run(run.pk) as ours:
        assert ours is (status == "interrupted")  # a retry may take it; a failed run stays
