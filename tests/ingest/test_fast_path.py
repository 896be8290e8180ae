"""The JSON fast path against the exact validator: same rejections, same stored values.

Thousands of records, each a valid request with one or two fields bent into a rare or bad
shape, go through both paths. Rejections (line, field, reason, raw text) and unknown field
counts must match exactly; the accepted rows of both are COPYed into PostgreSQL, which must
read them to the same values.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from django.db import connection

from ingest.formats import ColumnBatch, parse_json_line
from ingest.loader.lookups import LookupCache
from ingest.loader.pipeline import check_batch, check_request_batch
from ingest.loader.requests import STAGE_COLUMNS, STAGE_DDL, RequestEncoder
from tests.support.logs import request

pytestmark = pytest.mark.django_db(transaction=True)

_ABSENT = object()
LONG = "x" * 70
VARIANTS = {
    "request_id": ["", None, 5, "r" * 64, "r" * 65, "é" * 64, "a\nb", "nul\u0000id", " spaced "],
    "ts": ["2026-05-09T03:13:42.369Z", "2026-05-09T03:13:42Z", "2026-05-09T03:13:42.123456Z",
           "2026-05-09T03:13:42.1234567Z", "2026-05-09T05:13:42.369+02:00", "2026-05-09t03:13:42.369z",
           "2026-02-30T00:00:00Z", "2026-05-09 03:13:42Z", "2026-05-09T03:13:42.369", "2026-05-09T24:00:00Z",
           "2026-05-09T03:13:60Z", 12345, "", None, "2026-05-09T03:13:42Z\n2026-05-09T03:13:42Z",
           "0000-01-01T00:00:00Z", "2026-05-09T03:13:42.Z"],
    "ip": ["10.0.0.1", "2001:db8::1", "2001:0DB8:0:0:0:0:0:1", "fe80::1%eth0", "010.0.0.1", "256.1.1.1", "",
           None, 5, "1.2.3.4\n5.6.7.8", "::ffff:1.2.3.4", "0.0.0.0"],
    "country": ["US", "us", "Us", "uS", "XX", "", None, 5, "USA", "XK"],
    "asn": [0, 4_294_967_295, 4_294_967_296, -1, 5.0, 5.5, "5", "", True, None],
    "ip_type": ["residential", "RESIDENTIAL", "Hosting", "satellite", "", None, 1],
    "user_agent": ["u" * 512, "u" * 513, "", None, "tab\there"],
    "model": ["", None, "M", "m" * 256, "m" * 257, 7],
    "status_code": [_ABSENT, None, "", 404, 99, 600, 200.0, "200"],
    "input_tokens": [0, 10_000_000, 10_000_001, -1, 1.0, "5", None, _ABSENT, True],
    "category": ["coding", "CODING", "Coding", "", None, "c" * 257, "custom_cat", "İnfo"],
    "prompt_simhash": ["b8b6d8fe442e3d43", "B8B6D8FE442E3D43", "xyz", "f" * 15, "f" * 17, "", None, 5,
                       "0xb8b6d8fe442e3d", "ffffffffffffffff", "b8b6d8fe442e3d4\n",
                       "0123456789abcdef\n0123456789abcdef"],
    "turn": [1, 0, 100_000, 100_001],
    "reasoning_requested": [True, False, None, "", 1, "true"],
    "stream": [True, False, None, "", 0],
    "prompt_excerpt": ["p" * 2000, "p" * 2001, "line\nbreak \\ and \\N", ""],
    "api_key_id": ["", None, LONG, "key\u0000"],
    "end_user_id": ["", "e" * 65],
    "template_hash": ["", "tpl_1"],
    "some_future_field": [1, None, "", "x"],
}
RAW_LINES = ["not json", "[1, 2]", '"a string"', "{", "{}", '{"request_id": "only"}', "nul\x00", "  "]


def _records(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    lines, ids = [], []
    for i in range(count):
        roll = rng.random()
        if roll < 0.01:
            lines.append(rng.choice(RAW_LINES))
            continue
        request_id = rng.choice(ids) if roll < 0.05 and ids else f"req_{seed}_{i}"
        ids.append(request_id)
        record = request(request_id, minutes=rng.randrange(10_000), account=f"acct_{rng.randrange(40)}",
                         api_key_id=f"key_{rng.randrange(60)}", ip_type="hosting", country="DE",
                         prompt_simhash="0123456789abcdef", status_code=200, stream=False)
        for name in rng.sample(sorted(VARIANTS), k=rng.choice((0, 0, 1, 1, 2))):
            value = rng.choice(VARIANTS[name])
            if value is _ABSENT:
                record.pop(name, None)
            else:
                record[name] = value
        text = json.dumps(record, ensure_ascii=rng.random() < 0.5)
        if rng.random() < 0.02:  # a repeated key: the last one counts, on both paths
            text = text[:-1] + ', "model": "model-late"}'
        lines.append(text)
    return lines


def _stage(table: str, checked, lookups) -> int:
    encoder = RequestEncoder(lookups)
    data, rows, _repeats, _ = encoder.encode(checked.good, checked.lines, checked.columns)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TEMP TABLE {table} ({STAGE_DDL})")
        with cursor.connection.cursor().copy(f"COPY {table} ({', '.join(STAGE_COLUMNS)}) FROM STDIN") as copy:
            copy.write(data)
    return rows


def _difference(left: str, right: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM (TABLE {left} EXCEPT ALL TABLE {right}) d")
        return cursor.fetchone()[0]


def _assert_same_on_both_paths(texts: list[str]):
    items = [(n, text, None, "json") for n, text in enumerate(texts, 1)]
    exact_items = [(n, text, parse_json_line(text), "json") for n, text, _, _ in items]
    return _assert_same_verdicts(check_request_batch(items), check_batch("requests", exact_items))


def _assert_same_verdicts(fast, exact):
    """Same rejections and unknown fields; PostgreSQL reads the accepted rows to the same values."""
    assert fast.rejects == exact.rejects
    assert fast.unknown == exact.unknown
    assert len(fast.lines) + len(fast.good) == len(exact.good)

    connection.ensure_connection()
    lookups = LookupCache(connection.connection)
    assert _stage("fast_rows", fast, lookups) == _stage("exact_rows", exact, lookups)
    assert _difference("fast_rows", "exact_rows") == 0
    assert _difference("exact_rows", "fast_rows") == 0
    return fast


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_path_rejects_and_stores_exactly_what_the_validator_does(seed):
    texts = _records(3000, seed)
    fast = _assert_same_on_both_paths(texts)
    assert len(fast.lines) > len(texts) // 2  # the plain records did take the fast path


def test_each_odd_value_alone_among_plain_records_gets_the_validators_verdict():
    """Alone, an odd value meets the whole-column checks (one regex over a joined column)."""
    plain = [json.dumps(request(f"req_plain_{i}", minutes=i, prompt_simhash="0123456789abcdef"))
             for i in range(5)]
    for name, values in VARIANTS.items():
        for value in values:
            record = request("req_odd", minutes=9, prompt_simhash="0123456789abcdef")
            if value is _ABSENT:
                record.pop(name, None)
            else:
                record[name] = value
            fast = _assert_same_on_both_paths([*plain, json.dumps(record)])
            assert len(fast.lines) >= len(plain), (name, value)


def test_a_record_with_a_rare_shape_keeps_its_place_among_fast_rows():
    """The first of two records with one request_id is kept, whichever path each took."""
    slow_first = json.dumps(request("req_same", asn=5.0, model="slow"))  # 5.0: exact path
    fast_second = json.dumps(request("req_same", asn=5, model="fast"))
    items = [(1, slow_first, None, "json"), (2, fast_second, None, "json")]
    checked = check_request_batch(items)
    assert (len(checked.good), len(checked.lines)) == (1, 1)

    connection.ensure_connection()
    encoder = RequestEncoder(LookupCache(connection.connection))
    _data, rows, repeat_data, repeats = encoder.encode(checked.good, checked.lines, checked.columns)
    assert (rows, repeats) == (1, 1)
    assert repeat_data.startswith(b"2\treq_same\t")


# --- Parquet ----------------------------------------------------------------------------------

TEXT_FIELDS = {"request_id", "account_id", "api_key_id", "ip", "country", "ip_type", "user_agent", "model",
               "category", "prompt_simhash", "prompt_excerpt", "end_user_id", "template_hash"}
INT_FIELDS = {"asn", "status_code", "input_tokens", "turn"}
BOOL_FIELDS = {"reasoning_requested", "stream"}
WHEN = [datetime(2026, 5, 9, 3, 13, 42, 369000, tzinfo=UTC), datetime(2026, 5, 9, 3, 13, 42, tzinfo=UTC),
        datetime(2026, 5, 9, 5, 13, 42, 123456, tzinfo=timezone(timedelta(hours=2))), None]


def _typed(name: str, value) -> bool:
    """Whether a variant fits the Parquet column type its field is written with below."""
    if value is None:
        return True
    if name in TEXT_FIELDS:
        return isinstance(value, str)
    if name in INT_FIELDS:
        return type(value) is int
    return name in BOOL_FIELDS and type(value) is bool


def _schema(ts_type) -> pa.Schema:
    fields = [pa.field("ts", ts_type)]
    for name in sorted(TEXT_FIELDS | INT_FIELDS | BOOL_FIELDS | {"output_tokens"}):
        kind = pa.string() if name in TEXT_FIELDS else pa.bool_() if name in BOOL_FIELDS else pa.int64()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _parquet_rows(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        row = request(f"req_pq_{i}", minutes=i, account=f"acct_{rng.randrange(30)}", ip_type="proxy",
                      country="SG", prompt_simhash="fedcba9876543210", status_code=200, stream=True)
        row["ts"] = datetime(2026, 4, 22, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**6))
        for name in rng.sample(sorted(VARIANTS), k=rng.choice((0, 1, 1, 2))):
            value = rng.choice(VARIANTS[name])
            if name == "ts":
                row["ts"] = rng.choice(WHEN)
            elif value is not _ABSENT and _typed(name, value) and name in TEXT_FIELDS | INT_FIELDS | BOOL_FIELDS:
                row[name] = value
        rows.append(row)
    return rows


def _assert_same_for_parquet(table: pa.Table):
    batch = ColumnBatch(1, table.combine_chunks().to_batches()[0])
    exact = check_batch("requests", [(batch.first_row + i, None, row, "parquet")
                                     for i, row in enumerate(batch.record_batch.to_pylist())])
    return _assert_same_verdicts(check_request_batch(batch), exact)


@pytest.mark.parametrize("ts_type", [pa.timestamp("us", "UTC"), pa.timestamp("ms", "UTC"),
                                     pa.timestamp("s", "+00:00")])
def test_parquet_columns_take_the_fast_path_and_store_what_the_validator_does(ts_type):
    rows = _parquet_rows(2000, seed=len(str(ts_type)))
    table = pa.Table.from_pylist(rows, schema=_schema(pa.timestamp("us", "UTC"))).cast(_schema(ts_type), safe=False)
    fast = _assert_same_for_parquet(table)
    assert len(fast.lines) > len(rows) // 2
    assert fast.rejects  # the odd values did meet the checks


@pytest.mark.parametrize("change", ["unknown column", "float tokens", "text timestamps", "no api_key_id column",
                                    "timestamps in another zone"])
def test_parquet_batches_the_fast_path_cannot_read_give_the_validators_verdict(change):
    rows = _parquet_rows(300, seed=9)
    table = pa.Table.from_pylist(rows, schema=_schema(pa.timestamp("us", "UTC")))
    if change == "unknown column":
        table = table.append_column("some_future_field", pa.array([None, "x"] * 150))
    elif change == "float tokens":
        table = table.set_column(table.schema.get_field_index("input_tokens"), "input_tokens",
                                 pc.cast(table["input_tokens"], pa.float64()))
    elif change == "text timestamps":
        table = table.set_column(0, "ts", pc.strftime(table["ts"], format="%Y-%m-%dT%H:%M:%S.%fZ"))
    elif change == "no api_key_id column":
        table = table.drop_columns(["api_key_id"])
    else:
        table = table.set_column(0, "ts", table["ts"].cast(pa.timestamp("us", "Europe/Berlin")))
    _assert_same_for_parquet(table)
