"""Writers for the log format's encodings, byte-for-byte deterministic.

gzip headers carry no file name and mtime 0; Parquet uses a fixed row-group size and
tz-aware UTC timestamps.  JSON Lines are assembled column-wise in Arrow rather than one
`dumps` per record: every simulated value is known to need no JSON escaping (asserted below).
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from . import catalog
from .strings import day_timestamps

GZIP_LEVEL = 3
ROW_GROUP = 100_000
_STRING_FIELDS_TO_CHECK = catalog.LEGIT_EXCERPTS + catalog.CAMPAIGN_EXCERPTS + [
    catalog.ENTERPRISE_EXCERPT, catalog.EVAL_EXCERPT, catalog.CI_EXCERPT,
    *(c[0] for c in catalog.CLIENTS),
]
assert not any(ch in s for s in _STRING_FIELDS_TO_CHECK for ch in '"\\\n\r\t'), "needs escaping"


def open_gzip(path: Path):
    """A gzip stream whose bytes depend only on what is written (no name, mtime 0)."""
    raw = open(path, "wb")  # noqa: SIM115 - closed together with the gzip stream
    return raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0)


def text_timestamps(table: pa.Table, day: str, day_start: int) -> pa.Table:
    """Replace the timestamp column by RFC 3339 text for the text encodings."""
    ms = table["ts"].combine_chunks().cast(pa.int64()).to_numpy() - day_start
    index = table.schema.get_field_index("ts")
    return table.set_column(index, "ts", day_timestamps(day, ms))


def _json_piece(name: str, column: pa.ChunkedArray, first: bool) -> pa.Array:
    """`"name": value` for every row (null where the value is absent, so the key is omitted)."""
    column = column.combine_chunks()
    lead = "{" if first else ", "
    if pa.types.is_string(column.type):
        return pc.binary_join_element_wise(f'{lead}"{name}": "', column, '"', "")
    return pc.binary_join_element_wise(f'{lead}"{name}": ', column.cast(pa.string()), "")


def json_lines(table: pa.Table) -> memoryview:
    """The table as JSON Lines bytes (one object per row, absent values omitted)."""
    pieces = []
    for i, name in enumerate(table.column_names):
        piece = _json_piece(name, table[name], i == 0)
        pieces.append(piece)
    lines = pc.binary_join_element_wise(
        *pieces, "}\n", "", null_handling="replace", null_replacement=""
    ).cast(pa.large_string())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    return memoryview(lines.buffers()[2])[offsets[0]: offsets[len(lines)]]


def write_requests(table: pa.Table, path: Path, encoding: str, day: str, day_start: int) -> None:
    """Write one request file in `encoding` (parquet, jsonl, jsonl.gz, csv.gz)."""
    if encoding == "parquet":
        pq.write_table(table, path, row_group_size=ROW_GROUP, compression="zstd",
                       compression_level=1)
        return
    table = text_timestamps(table, day, day_start)
    if encoding == "jsonl":
        path.write_bytes(json_lines(table))
        return
    raw, stream = open_gzip(path)
    with raw, stream:
        if encoding == "jsonl.gz":
            stream.write(json_lines(table))
        elif encoding == "csv.gz":
            sink = io.BytesIO()
            pcsv.write_csv(table, sink, pcsv.WriteOptions(quoting_style="needed"))
            stream.write(sink.getbuffer())
        else:
            raise ValueError(f"unknown encoding {encoding!r}")


ACCOUNT_FIELDS = [
    "account_id", "created_at", "org_id", "email", "signup_ip", "signup_country", "signup_asn",
    "billing_country", "payment_fingerprint", "payment_method", "phone_verified",
    "device_fingerprint", "signup_channel", "plan", "status",
]


def write_accounts_jsonl(records: list[dict], path: Path) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))


def write_accounts_csv_gz(records: list[dict], path: Path) -> None:
    """Accounts as gzip CSV; booleans as true/false, absent values as empty cells."""
    raw, stream = open_gzip(path)
    with raw, stream:
        text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
        writer = csv.DictWriter(text, fieldnames=ACCOUNT_FIELDS, lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({k: _csv_value(v) for k, v in record.items()})
        text.flush()
        text.detach()


def _csv_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value
