"""The readers: file kinds and encodings, streaming, per-line errors and whole-file failures."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.formats import (
    FileRejected,
    ParseError,
    ReadStats,
    detect_encoding,
    detect_kind,
    iter_batches,
    raw_text,
)
from ingest.validation import unknown_fields, validate_record

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "spec" / "samples"
REQUEST_HEADER = "request_id,ts,account_id,ip,model,input_tokens,output_tokens"
REQUEST_LINE = {
    "request_id": "r1",
    "ts": "2026-04-22T01:00:00Z",
    "account_id": "a1",
    "ip": "192.0.2.1",
    "model": "m",
    "input_tokens": 1,
    "output_tokens": 2,
}


def items(path, kind="requests", batch_size=10_000, stats=None):
    return [
        item
        for batch in iter_batches(str(path), kind, batch_size, stats)
        for item in batch
    ]


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def jsonl(*records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


# --- kinds and encodings --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("requests-2026-04-22.jsonl.gz", "requests"),
        ("/data/in/accounts.csv", "accounts"),
        ("Requests_x.parquet", "requests"),
        ("logs-requests.jsonl", None),
        ("users.csv", None),
    ],
)
def test_kind_comes_from_the_file_name_prefix(name, kind):
    assert detect_kind(name) == kind


@pytest.mark.parametrize(
    ("name", "encoding"),
    [
        ("requests.jsonl", "jsonl"),
        ("requests.jsonl.gz", "jsonl.gz"),
        ("requests.csv", "csv"),
        ("requests.CSV.GZ", "csv.gz"),
        ("requests.parquet", "parquet"),
    ],
)
def test_encoding_comes_from_the_file_name_ending(name, encoding):
    assert detect_encoding(name) == encoding


@pytest.mark.parametrize(
    "name", ["requests.json", "requests.gz", "requests.txt", "requests"]
)
def test_unknown_ending_is_rejected(name):
    with pytest.raises(FileRejected, match="unsupported file type"):
        detect_encoding(name)


def test_unknown_kind_is_a_programming_error(tmp_path):
    path = write(tmp_path, "requests.jsonl", "")
    with pytest.raises(ValueError):
        list(iter_batches(str(path), "users"))


# --- the shared samples ---------------------------------------------------------------


def test_invalid_sample_gives_one_blank_eight_rejections_and_two_valid_records():
    stats = ReadStats()
    got = items(SAMPLES / "requests-invalid.jsonl", stats=stats)
    assert stats.blank_lines == 1
    assert len(got) == 10 == stats.items
    results = [
        (line, validate_record("requests", obj, source))
        for line, _raw, obj, source in got
    ]
    rejected = {
        line: (field, reason) for line, (row, field, reason) in results if row is None
    }
    valid = [row for _line, (row, _f, _r) in results if row is not None]
    assert len(rejected) == 8
    assert rejected[1][0] == "ts" and "no UTC offset" in rejected[1][1]
    assert rejected[2][0] == "ip"
    assert rejected[3] == (
        "input_tokens",
        "input_tokens must be an integer >= 0, got -5",
    )
    assert rejected[4] == ("account_id", "account_id is required")
    assert rejected[5] == (
        "input_tokens",
        "input_tokens must be an integer, got string 'ten'",
    )
    assert rejected[6] == (
        "country",
        "country must be an ISO 3166-1 alpha-2 code, got 'USA'",
    )
    assert rejected[7] == ("_record", "record is not a JSON object (got array)")
    assert rejected[8][0] == "_line" and rejected[8][1].startswith("not valid JSON")
    assert [row[0] for row in valid] == ["req_ok_09", "req_ok_09"]
    unknown = [
        name
        for _l, _r, obj, _s in got
        if isinstance(obj, dict)
        for name in unknown_fields("requests", obj)
    ]
    assert unknown == ["some_future_field"]


def test_invalid_sample_line_numbers_count_the_blank_line():
    assert [line for line, *_ in items(SAMPLES / "requests-invalid.jsonl")] == [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        10,
        11,
    ]


def test_four_encodings_of_the_sample_give_the_same_normalized_rows():
    rows = {}
    for name in (
        "requests-sample.jsonl",
        "requests-sample.jsonl.gz",
        "requests-sample.csv",
        "requests-sample.parquet",
    ):
        results = [
            validate_record("requests", obj, source)
            for _l, _r, obj, source in items(SAMPLES / name)
        ]
        assert all(row is not None for row, _f, _r in results), (name, results)
        rows[name] = [row for row, _f, _r in results]
    first = rows["requests-sample.jsonl"]
    assert len(first) == 4
    assert all(other == first for other in rows.values())
    assert first[2][1] == "2026-04-22 07:40:55.000000+00"
    assert first[3][5] == "2001:db8::5" and first[3][13] == "429"


def test_account_sample_gives_three_valid_accounts():
    got = items(SAMPLES / "accounts-sample.jsonl", "accounts")
    assert [
        validate_record("accounts", obj, source)[2] for _l, _r, obj, source in got
    ] == [None] * 3


def test_not_gzip_sample_is_rejected_as_not_gzip():
    with pytest.raises(FileRejected, match="not a gzip file"):
        items(SAMPLES / "requests-not-gzip.jsonl.gz")


def test_truncated_gzip_sample_is_rejected_as_truncated():
    with pytest.raises(FileRejected, match="truncated gzip"):
        items(SAMPLES / "requests-truncated.jsonl.gz")


# --- JSON Lines -----------------------------------------------------------------------


def test_jsonl_items_carry_line_raw_object_and_source(tmp_path):
    path = write(tmp_path, "requests.jsonl", b'{"a": 1}\r\n\n  \n[1]\n')
    assert items(path) == [(1, '{"a": 1}', {"a": 1}, "json"), (4, "[1]", [1], "json")]


def test_blank_lines_are_skipped_but_counted(tmp_path):
    stats = ReadStats()
    path = write(tmp_path, "requests.jsonl", b"\n" + jsonl(REQUEST_LINE) + b"   \n\t\n")
    assert len(items(path, stats=stats)) == 1
    assert stats.blank_lines == 3


def test_last_line_without_newline_is_read(tmp_path):
    path = write(tmp_path, "requests.jsonl", b'{"a": 1}\n{"b": 2}')
    assert [obj for _l, _r, obj, _s in items(path)] == [{"a": 1}, {"b": 2}]


def test_broken_json_line_becomes_a_parse_error(tmp_path):
    path = write(tmp_path, "requests.jsonl", b'{"a": \n')
    ((_line, raw, obj, _source),) = items(path)
    assert raw == '{"a":'
    assert (
        isinstance(obj, ParseError)
        and obj.field == "_line"
        and obj.reason.startswith("not valid JSON: ")
    )


def test_invalid_utf8_line_is_rejected_and_the_rest_loads(tmp_path):
    data = (
        jsonl(REQUEST_LINE)
        + b'{"request_id": "r\xff\xfe"}\n'
        + jsonl(dict(REQUEST_LINE, request_id="r3"))
    )
    got = items(write(tmp_path, "requests.jsonl", data))
    assert [line for line, *_ in got] == [1, 2, 3]
    assert got[1][2] == ParseError("_line", "line is not valid UTF-8")
    assert "\ufffd" in got[1][1]
    assert validate_record("requests", got[2][2], "json")[0][0] == "r3"


def test_utf8_bom_at_start_of_jsonl_is_ignored(tmp_path):
    path = write(tmp_path, "requests.jsonl", b"\xef\xbb\xbf" + jsonl(REQUEST_LINE))
    assert items(path)[0][2] == REQUEST_LINE


def test_overlong_line_is_rejected_without_holding_it(tmp_path, monkeypatch):
    from ingest import formats

    monkeypatch.setattr(formats, "MAX_LINE_BYTES", 100)
    monkeypatch.setattr(formats, "_READ_CHUNK", 64)
    data = b'{"a": "' + b"x" * 1000 + b'"}\n{"b": 2}\n'
    got = items(write(tmp_path, "requests.jsonl", data))
    assert (
        got[0][0] == 1
        and isinstance(got[0][2], ParseError)
        and "longer than" in got[0][2].reason
    )
    assert got[1][:3] == (2, '{"b": 2}', {"b": 2})


def test_lines_spanning_read_chunks_are_reassembled(tmp_path, monkeypatch):
    from ingest import formats

    monkeypatch.setattr(formats, "_READ_CHUNK", 7)
    records = [dict(REQUEST_LINE, request_id=f"r{i}") for i in range(20)]
    got = items(write(tmp_path, "requests.jsonl", jsonl(*records)))
    assert [obj for _l, _r, obj, _s in got] == records


def test_batches_hold_at_most_batch_size_items(tmp_path):
    path = write(tmp_path, "requests.jsonl", jsonl(*[REQUEST_LINE] * 25))
    assert [len(b) for b in iter_batches(str(path), "requests", 10)] == [10, 10, 5]


def test_stats_report_bytes_read_and_total(tmp_path):
    path = write(
        tmp_path, "requests.jsonl.gz", gzip.compress(jsonl(*[REQUEST_LINE] * 50))
    )
    stats = ReadStats()
    items(path, stats=stats)
    assert stats.total_bytes == path.stat().st_size == stats.bytes_read
    assert stats.items == 50


def test_gzip_jsonl_is_read(tmp_path):
    path = write(
        tmp_path, "requests.jsonl.gz", gzip.compress(jsonl(REQUEST_LINE, REQUEST_LINE))
    )
    assert [line for line, *_ in items(path)] == [1, 2]


def test_truncated_gzip_raises_after_earlier_batches_were_yielded(tmp_path):
    data = gzip.compress(
        jsonl(*[dict(REQUEST_LINE, request_id=f"r{i}") for i in range(20000)])
    )
    path = write(tmp_path, "requests.jsonl.gz", data[: len(data) - 200])
    seen = 0
    with pytest.raises(FileRejected, match="truncated gzip"):
        for batch in iter_batches(str(path), "requests", 100):
            seen += len(batch)
    assert seen > 0


def test_corrupt_gzip_data_is_rejected(tmp_path):
    data = bytearray(gzip.compress(jsonl(*[REQUEST_LINE] * 100)))
    data[40:60] = b"\x00" * 20
    with pytest.raises(FileRejected, match="gzip"):
        items(write(tmp_path, "requests.jsonl.gz", bytes(data)))


@pytest.mark.parametrize(
    "name",
    [
        "requests.jsonl",
        "requests.jsonl.gz",
        "requests.csv",
        "requests.csv.gz",
        "requests.parquet",
    ],
)
def test_empty_file_gives_no_items_and_no_error(tmp_path, name):
    assert items(write(tmp_path, name, b"")) == []


def test_file_of_blank_lines_gives_no_items(tmp_path):
    stats = ReadStats()
    assert items(write(tmp_path, "requests.jsonl", b"\n\n\r\n"), stats=stats) == []
    assert stats.blank_lines == 3


def test_gzip_of_nothing_gives_no_items(tmp_path):
    assert items(write(tmp_path, "requests.jsonl.gz", gzip.compress(b""))) == []


# --- CSV ------------------------------------------------------------------------------


def test_csv_rows_are_dicts_of_strings_with_line_numbers(tmp_path):
    path = write(
        tmp_path,
        "requests.csv",
        f"{REQUEST_HEADER}\nr1,2026-04-22T01:00:00Z,a1,192.0.2.1,m,1,\n",
    )
    ((line, raw, obj, source),) = items(path)
    assert (line, source) == (2, "csv")
    assert raw == "r1,2026-04-22T01:00:00Z,a1,192.0.2.1,m,1,"
    assert obj["input_tokens"] == "1" and obj["output_tokens"] == ""


def test_csv_header_missing_a_required_column_rejects_the_file(tmp_path):
    path = write(
        tmp_path,
        "requests.csv",
        "request_id,account_id,model,input_tokens,output_tokens\nr,a,m,1,2\n",
    )
    with pytest.raises(
        FileRejected, match=r"CSV header lacks required column\(s\): ts, ip"
    ):
        items(path)


def test_accounts_csv_requires_account_columns(tmp_path):
    with pytest.raises(FileRejected, match="created_at"):
        items(write(tmp_path, "accounts.csv", "account_id,email\n"), "accounts")
    path = write(
        tmp_path,
        "accounts2.csv",
        "account_id,created_at\nacct_1,2026-04-22T00:00:00Z\n",
    )
    assert items(path, "accounts")[0][2] == {
        "account_id": "acct_1",
        "created_at": "2026-04-22T00:00:00Z",
    }


def test_csv_header_repeating_a_column_rejects_the_file(tmp_path):
    with pytest.raises(FileRejected, match="repeats column"):
        items(write(tmp_path, "requests.csv", REQUEST_HEADER + ",ip\n"))


def test_csv_with_only_a_header_gives_no_items(tmp_path):
    assert items(write(tmp_path, "requests.csv", REQUEST_HEADER + "\n")) == []


def test_csv_leading_bom_is_ignored(tmp_path):
    path = write(
        tmp_path,
        "requests.csv",
        b"\xef\xbb\xbf" + f"{REQUEST_HEADER}\nr1,t,a,i,m,1,2\n".encode(),
    )
    assert items(path)[0][2]["request_id"] == "r1"


def test_csv_quoted_newlines_keep_the_starting_line_number(tmp_path):
    text = f'{REQUEST_HEADER},prompt_excerpt\nr1,t,a,i,m,1,2,"two\nlines"\nr2,t,a,i,m,1,2,"a ""quoted"", comma"\n'
    got = items(write(tmp_path, "requests.csv", text))
    assert [line for line, *_ in got] == [2, 4]
    assert got[0][2]["prompt_excerpt"] == "two\nlines"
    assert got[1][2]["prompt_excerpt"] == 'a "quoted", comma'
    assert got[0][1] == 'r1,t,a,i,m,1,2,"two\nlines"'


def test_csv_crlf_line_endings_are_read(tmp_path):
    got = items(
        write(tmp_path, "requests.csv", f"{REQUEST_HEADER}\r\nr1,t,a,i,m,1,2\r\n")
    )
    assert got[0][2]["output_tokens"] == "2"


def test_csv_row_with_wrong_number_of_columns_is_a_parse_error(tmp_path):
    text = f"{REQUEST_HEADER}\nr1,t,a,i,m\nr2,t,a,i,m,1,2\n"
    got = items(write(tmp_path, "requests.csv", text))
    assert got[0][0] == 2 and got[0][2] == ParseError(
        "_line", "row has 5 columns, header has 7"
    )
    assert got[1][2]["request_id"] == "r2"


def test_csv_invalid_utf8_row_is_rejected_and_the_rest_loads(tmp_path):
    data = f"{REQUEST_HEADER}\n".encode() + b"r\xff,t,a,i,m,1,2\nr2,t,a,i,m,1,2\n"
    got = items(write(tmp_path, "requests.csv", data))
    assert got[0][2] == ParseError("_line", "line is not valid UTF-8")
    assert got[1][2]["request_id"] == "r2"


def test_csv_blank_lines_are_skipped_and_counted(tmp_path):
    stats = ReadStats()
    got = items(
        write(tmp_path, "requests.csv", f"\n{REQUEST_HEADER}\n\nr1,t,a,i,m,1,2\n"),
        stats=stats,
    )
    assert [line for line, *_ in got] == [4]
    assert stats.blank_lines == 2


def test_csv_file_of_blank_lines_gives_no_items(tmp_path):
    assert items(write(tmp_path, "requests.csv", "\n\n")) == []


def test_gzip_csv_is_read_and_validates(tmp_path):
    text = f"{REQUEST_HEADER}\nr1,2026-04-22T01:00:00Z,a1,192.0.2.1,m,1,2\n"
    got = items(write(tmp_path, "requests.csv.gz", gzip.compress(text.encode())))
    assert validate_record("requests", got[0][2], got[0][3])[0][0] == "r1"


def test_gzip_csv_that_is_not_gzip_is_rejected(tmp_path):
    with pytest.raises(FileRejected, match="not a gzip file"):
        items(write(tmp_path, "requests.csv.gz", REQUEST_HEADER))


def test_sample_csv_copied_as_gzip_gives_the_sample_rows(tmp_path):
    path = tmp_path / "requests-sample.csv.gz"
    with (
        open(SAMPLES / "requests-sample.csv", "rb") as src,
        gzip.open(path, "wb") as dst,
    ):
        shutil.copyfileobj(src, dst)
    assert [obj for _l, _r, obj, _s in items(path)] == [
        obj for _l, _r, obj, _s in items(SAMPLES / "requests-sample.csv")
    ]


# --- Parquet --------------------------------------------------------------------------


def test_parquet_rows_are_dicts_with_row_numbers_and_json_raw(tmp_path):
    path = tmp_path / "requests.parquet"
    pq.write_table(
        pa.table({"request_id": ["r1", "r2"], "input_tokens": [1, None]}), path
    )
    got = items(path)
    assert [(line, obj, source) for line, _raw, obj, source in got] == [
        (1, {"request_id": "r1", "input_tokens": 1}, "parquet"),
        (2, {"request_id": "r2", "input_tokens": None}, "parquet"),
    ]
    assert got[0][1] is None  # no dump per row: only a rejected row is dumped, by raw_text
    assert json.loads(raw_text(got[0][1], got[0][2])) == {"request_id": "r1", "input_tokens": 1}


def test_parquet_tz_aware_timestamp_column_gives_aware_datetimes_that_validate(
    tmp_path,
):
    path = tmp_path / "requests.parquet"
    ts = pa.array(
        [datetime(2026, 4, 22, 1, 0, 0, 120000, tzinfo=UTC)],
        pa.timestamp("us", tz="Europe/Paris"),
    )
    table = pa.table(
        {**{k: [v] for k, v in REQUEST_LINE.items() if k != "ts"}, "ts": ts}
    )
    pq.write_table(table, path)
    ((_line, _raw, obj, source),) = items(path)
    assert obj["ts"].utcoffset() is not None
    assert (
        validate_record("requests", obj, source)[0][1]
        == "2026-04-22 01:00:00.120000+00"
    )


def test_parquet_timestamp_column_without_time_zone_rejects_the_file(tmp_path):
    path = tmp_path / "requests.parquet"
    pq.write_table(
        pa.table({"ts": pa.array([datetime(2026, 4, 22)], pa.timestamp("us"))}), path
    )
    with pytest.raises(
        FileRejected, match="Parquet column ts is a timestamp without time zone"
    ):
        items(path)


def test_file_that_is_not_parquet_is_rejected(tmp_path):
    with pytest.raises(FileRejected, match="not a Parquet file"):
        items(write(tmp_path, "requests.parquet", jsonl(REQUEST_LINE)))


def test_parquet_batches_follow_batch_size(tmp_path):
    path = tmp_path / "requests.parquet"
    pq.write_table(pa.table({"request_id": [f"r{i}" for i in range(25)]}), path)
    stats = ReadStats()
    assert [len(b) for b in iter_batches(str(path), "requests", 10, stats)] == [
        10,
        10,
        5,
    ]
    assert stats.items == 25 and stats.bytes_read == stats.total_bytes
