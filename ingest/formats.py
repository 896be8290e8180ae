"""Record readers for Copycat log files (spec: log-format.md, "Files").

Pure Python, no Django: the loader (``ingest.services``) calls these and feeds
each item to :func:`ingest.validation.validate_record`.

Public API
----------
``detect_kind(path)``
    ``'accounts'`` or ``'requests'`` from the file name's prefix, else ``None``.
``detect_encoding(path)``
    ``'jsonl'``, ``'jsonl.gz'``, ``'csv'``, ``'csv.gz'`` or ``'parquet'`` from the
    file name's ending; raises :class:`FileRejected` for any other ending.
``iter_batches(path, kind, batch_size=10_000, stats=None)``
    Streams the file in constant memory and yields lists of *items*, at most
    ``batch_size`` per list. An item is a tuple ``(line, raw, obj, source)``:

    - ``line``: 1-based physical line where the record starts (CSV: the header
      is line 1; Parquet: the 1-based row number);
    - ``raw``: the record's text, never truncated (JSONL: the line without
      its line ending; CSV: the row re-joined as CSV; Parquet: ``None``, since
      a row has no text of its own: :func:`raw_text` dumps it to JSON if it is
      rejected, rather than every row paying for a dump nobody reads);
    - ``obj``: the parsed value (JSON: whatever the line held, usually a
      dict; CSV: dict of header -> string, ``''`` for an empty cell; Parquet:
      dict of column -> Python value, tz-aware ``datetime`` for timestamp
      columns) or a :class:`ParseError` when the line itself cannot be parsed
      (``field`` is ``'_line'``);
    - ``source``: ``'json'``, ``'csv'`` or ``'parquet'``.

    A file that cannot be read as a whole raises :class:`FileRejected`,
    possibly after some batches were yielded (a truncated gzip archive is only
    found at its end): the caller must discard everything from that file.

``ReadStats``
    Optional progress counters that the caller creates and passes as
    ``stats``; ``iter_batches`` updates them in place before each batch is
    yielded and once more at the end:

    - ``total_bytes``: size of the file on disk (set before the first batch);
    - ``bytes_read``: bytes of the file on disk consumed so far (compressed
      bytes for gzip; estimated from rows read for Parquet), for progress;
    - ``blank_lines``: blank lines skipped (JSONL lines holding only
      whitespace; empty CSV lines outside quotes);
    - ``items``: items yielded so far (records and parse errors).

Interpretations of the spec made here
-------------------------------------
- A leading UTF-8 byte-order mark is ignored in JSONL as in CSV.
- A JSONL line longer than ``MAX_LINE_BYTES`` is rejected as a record (its
  ``raw`` is cut) instead of being held in memory.
- CSV header names are stripped of surrounding spaces. A CSV syntax error the
  ``csv`` module cannot recover from (e.g. a field over 128 KiB, usually an
  unclosed quote) fails the file, naming the line.
- Any Parquet timestamp column without a time zone fails the file, even one
  that is not a field of the spec.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

import orjson
from isal import igzip, igzip_lib

__all__ = [
    "MAX_LINE_BYTES",
    "REQUIRED_COLUMNS",
    "ColumnBatch",
    "FileRejected",
    "Item",
    "ParseError",
    "ReadStats",
    "detect_encoding",
    "detect_kind",
    "iter_batches",
    "parse_json_line",
    "raw_text",
]

KINDS = ("accounts", "requests")

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id", "created_at"),
    "requests": (
        "request_id",
        "ts",
        "account_id",
        "ip",
        "model",
        "input_tokens",
        "output_tokens",
    ),
}

# Encodings by file-name ending, longest endings first so ".jsonl.gz" wins over ".gz".
_ENDINGS = (
    (".jsonl.gz", "jsonl.gz"),
    (".csv.gz", "csv.gz"),
    (".jsonl", "jsonl"),
    (".csv", "csv"),
    (".parquet", "parquet"),
)

# A JSONL line longer than this is rejected rather than held in memory. Records are
# a few hundred bytes; the longest legitimate field (prompt_excerpt) is 2,000 chars.
MAX_LINE_BYTES = 4 * 1024 * 1024
_READ_CHUNK = 1024 * 1024
_RAW_CUT = 1000  # raw text kept for a line too long to load


class FileRejected(Exception):
    """The file as a whole cannot be read; ``str(exc)`` is the reason shown to the operator."""


class ParseError(NamedTuple):
    """A line that cannot be parsed into a record: stands in for ``obj`` in an item."""

    field: str
    reason: str


Item = tuple[int, str | None, object, str]


@dataclass
class ReadStats:
    """Progress counters updated by :func:`iter_batches` as it reads (see module docstring)."""

    total_bytes: int = 0
    bytes_read: int = 0
    blank_lines: int = 0
    items: int = 0


def detect_kind(path: str) -> str | None:
    """Return ``'accounts'`` or ``'requests'`` from the file name's prefix, else None."""
    name = os.path.basename(path).lower()
    for kind in KINDS:
        if name.startswith(kind):
            return kind
    return None


def detect_encoding(path: str) -> str:
    """Return the encoding named by the file's ending; raise FileRejected if unsupported."""
    name = os.path.basename(path).lower()
    for ending, encoding in _ENDINGS:
        if name.endswith(ending):
            return encoding
    raise FileRejected(
        f"unsupported file type {os.path.basename(path)!r}: "
        "expected .jsonl, .jsonl.gz, .csv, .csv.gz or .parquet"
    )


def iter_batches(
    path: str,
    kind: str,
    batch_size: int = 10_000,
    stats: ReadStats | None = None,
    parse: bool = True,
) -> Iterator[list[Item]]:
    """Yield the file's items in lists of at most ``batch_size``, in file order.

    With ``parse=False`` a JSON Lines record comes as ``(line, text, None, "json")``, for a
    caller that decodes it itself; lines that cannot be records still come as ParseError.
    A Parquet batch then comes whole, as a :class:`ColumnBatch`.
    """
    if kind not in REQUIRED_COLUMNS:
        raise ValueError(
            f"unknown record kind {kind!r}: expected 'accounts' or 'requests'"
        )
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if stats is None:
        stats = ReadStats()
    encoding = detect_encoding(path)
    try:
        stats.total_bytes = os.path.getsize(path)
    except OSError as exc:
        raise FileRejected(f"cannot read file: {exc.strerror or exc}") from exc
    if encoding == "parquet":
        yield from _parquet_batches(path, batch_size, stats, parse)
        return
    with open(path, "rb") as raw:
        if encoding.endswith(".gz"):
            stream: BinaryIO = _GzipGuard(raw)  # type: ignore[assignment]
        else:
            stream = raw
        if encoding.startswith("jsonl"):
            yield from _jsonl_batches(stream, raw, batch_size, stats, parse)
        else:
            yield from _csv_batches(stream, raw, kind, batch_size, stats)


# --- gzip ---------------------------------------------------------------------------


class _GzipGuard(io.RawIOBase):
    """A gzip stream whose errors become FileRejected with an operator-facing reason."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        # ISA-L's inflate: 0.8 s against zlib's 2.1 s for the 2M-row bench file, on the
        # reader thread that sets the pace of a load.
        self._gz = igzip.IGzipFile(fileobj=raw, mode="rb")
        self._started = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._gz.read(size)
        except EOFError as exc:
            raise FileRejected(
                "truncated gzip archive: the file ends before the end of its compressed data "
                "(or its compressed data is followed by bytes that are not gzip)"
            ) from exc
        except gzip.BadGzipFile as exc:
            if not self._started:
                raise FileRejected("not a gzip file") from exc
            raise FileRejected(f"corrupt gzip archive: {exc}") from exc
        except (zlib.error, igzip_lib.IsalError) as exc:
            raise FileRejected(f"corrupt gzip archive: {exc}") from exc
        self._started = True
        return data

    def readinto(self, buffer) -> int:  # used by io.TextIOWrapper via BufferedReader
        data = self.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


# --- JSON Lines ---------------------------------------------------------------------


def _jsonl_batches(
    stream: BinaryIO, raw: BinaryIO, batch_size: int, stats: ReadStats, parse: bool = True
) -> Iterator[list[Item]]:
    tell = raw.tell
    batch: list[Item] = []
    append = batch.append
    line_no = 0
    for lines in _jsonl_blocks(stream):
        for line in lines:
            line_no += 1
            line = line.strip()
            if not line:
                stats.blank_lines += 1
                continue
            if (
                line.__class__ is bytes
            ):  # the block held invalid UTF-8: decode line by line
                try:
                    line = line.decode("utf-8")
                except UnicodeDecodeError:
                    text = line.decode("utf-8", "replace")
                    append(
                        (
                            line_no,
                            text,
                            ParseError("_line", "line is not valid UTF-8"),
                            "json",
                        )
                    )
                    continue
            if len(line) > MAX_LINE_BYTES:
                reason = f"line is longer than {MAX_LINE_BYTES:,} bytes"
                append((line_no, line[:_RAW_CUT], ParseError("_line", reason), "json"))
                continue
            append((line_no, line, parse_json_line(line) if parse else None, "json"))
            if len(batch) >= batch_size:
                stats.items += len(batch)
                stats.bytes_read = tell()
                yield batch
                batch = []
                append = batch.append
    stats.bytes_read = tell()
    if batch:
        stats.items += len(batch)
        yield batch


def parse_json_line(line: str) -> object:
    """The record on one JSON line, or a ParseError that says where the JSON breaks."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return ParseError("_line", f"not valid JSON: {exc.msg} at column {exc.colno}")


def _jsonl_blocks(stream: BinaryIO) -> Iterator[list[str] | list[bytes]]:
    """Yield the file's lines in blocks, without their "\n".

    A block is decoded as a whole (much cheaper than line by line) and yielded as a list of
    str; a block holding invalid UTF-8 is yielded as a list of bytes for the caller to
    decode line by line. A line longer than MAX_LINE_BYTES is yielded cut, and the rest of
    it is skipped unread, so memory stays bounded whatever the file holds.
    """
    pending = b""
    skipping = False  # inside an overlong line already yielded
    first = True
    while chunk := stream.read(_READ_CHUNK):
        if first:
            first = False
            chunk = chunk.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark
        if skipping:
            cut = chunk.find(b"\n")
            if cut < 0:
                continue
            chunk, skipping = chunk[cut + 1 :], False
        buffer = pending + chunk if pending else chunk
        cut = buffer.rfind(b"\n")
        if cut < 0:
            pending = buffer
            if len(pending) > MAX_LINE_BYTES:
                yield [pending[: MAX_LINE_BYTES + 1]]
                pending, skipping = b"", True
            continue
        body, pending = buffer[:cut], buffer[cut + 1 :]
        yield _split_block(body)
    if pending:
        yield _split_block(pending)


def _split_block(body: bytes) -> list[str] | list[bytes]:
    try:
        return body.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return body.split(b"\n")


# --- CSV ----------------------------------------------------------------------------


def _csv_batches(
    stream: BinaryIO, raw: BinaryIO, kind: str, batch_size: int, stats: ReadStats
) -> Iterator[list[Item]]:
    buffered = stream if stream is raw else io.BufferedReader(stream, _READ_CHUNK)  # type: ignore[arg-type]
    # surrogateescape: one row with bad UTF-8 is rejected below, not the whole file.
    text = io.TextIOWrapper(
        buffered, encoding="utf-8-sig", errors="surrogateescape", newline=""
    )
    reader = csv.reader(text)
    tell = raw.tell
    out = io.StringIO()
    writer = csv.writer(out)  # "\r\n", so fields holding newlines get quoted
    header: list[str] | None = None
    width = 0
    batch: list[Item] = []
    append = batch.append
    prev = 0  # physical lines consumed before the current row
    try:
        for row in reader:
            start = prev + 1
            prev = reader.line_num
            if not row:
                stats.blank_lines += 1
                continue
            if header is None:
                header = [name.strip() for name in row]
                missing = [c for c in REQUIRED_COLUMNS[kind] if c not in header]
                if missing:
                    raise FileRejected(
                        f"CSV header lacks required column(s): {', '.join(missing)}"
                    )
                repeated = sorted({c for c in header if header.count(c) > 1})
                if repeated:
                    raise FileRejected(
                        f"CSV header repeats column(s): {', '.join(repeated)}"
                    )
                if _has_surrogates("".join(header)):
                    raise FileRejected("CSV header is not valid UTF-8")
                width = len(header)
                continue
            writer.writerow(row)
            line = out.getvalue()[:-2]  # without the "\r\n" the writer added
            out.seek(0)
            out.truncate()
            if not line.isascii() and _has_surrogates(line):
                line = line.encode("utf-8", "surrogateescape").decode(
                    "utf-8", "replace"
                )
                append(
                    (start, line, ParseError("_line", "line is not valid UTF-8"), "csv")
                )
            elif len(row) != width:
                reason = f"row has {len(row)} columns, header has {width}"
                append((start, line, ParseError("_line", reason), "csv"))
            else:
                append((start, line, dict(zip(header, row)), "csv"))
            if len(batch) >= batch_size:
                stats.items += len(batch)
                stats.bytes_read = tell()
                yield batch
                batch = []
                append = batch.append
    except csv.Error as exc:
        raise FileRejected(
            f"CSV is malformed at line {reader.line_num}: {exc}"
        ) from exc
    stats.bytes_read = tell()
    if batch:
        stats.items += len(batch)
        yield batch


def _has_surrogates(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# --- Parquet ------------------------------------------------------------------------


def raw_text(raw: str | None, obj) -> str:
    """The record as the quarantine keeps it: its own text, or a JSON dump of a Parquet row."""
    return raw if raw is not None else orjson.dumps(obj, default=str).decode()


class ColumnBatch(NamedTuple):
    """Rows of a Parquet file as Arrow columns; ``first_row`` is the first one's number."""

    first_row: int
    record_batch: object  # pyarrow.RecordBatch

    def rows(self, positions) -> list[Item]:
        """Items for the rows at ``positions`` (0-based within the batch), as dicts."""
        return [_parquet_row(self.first_row + i, self.record_batch.slice(i, 1)) for i in positions]


def _parquet_items(batch: ColumnBatch) -> list[Item]:
    try:
        rows = batch.record_batch.to_pylist()
    except _UNREADABLE:
        return batch.rows(range(batch.record_batch.num_rows))
    return [(batch.first_row + i, None, row, "parquet") for i, row in enumerate(rows)]


# A value Arrow holds but Python cannot: a timestamp whose local time is past year 9999, a
# time zone Python does not know. Such a row is rejected, naming the column.
_UNREADABLE = (ValueError, OverflowError, ArithmeticError, LookupError)


def _parquet_row(row_no: int, row_batch) -> Item:
    try:
        return row_no, None, row_batch.to_pylist()[0], "parquet"
    except _UNREADABLE:
        pass
    values, failure = {}, None
    for name, column in zip(row_batch.schema.names, row_batch.columns, strict=True):
        try:
            values[name] = column.to_pylist()[0]
        except _UNREADABLE as exc:
            values[name] = getattr(column[0], "value", None)  # the number behind a timestamp
            failure = failure or ParseError(name, _unreadable_reason(name, column.type, exc))
    return row_no, orjson.dumps(values, default=str).decode(), failure, "parquet"


def _unreadable_reason(name: str, arrow_type, exc: Exception) -> str:
    if isinstance(exc, LookupError):
        return f"{name} is in a time zone this machine does not know: {getattr(arrow_type, 'tz', arrow_type)}"
    return f"{name} cannot be read as a {arrow_type} value: {exc}"


def _microseconds(record_batch):
    """Nanosecond timestamps cut to microseconds, as the validator cuts extra fraction digits."""
    import pyarrow as pa

    for i, field in enumerate(record_batch.schema):
        if pa.types.is_timestamp(field.type) and field.type.unit == "ns":
            column = record_batch.column(i).cast(pa.timestamp("us", field.type.tz), safe=False)
            record_batch = record_batch.set_column(i, field.name, column)
    return record_batch


def _parquet_batches(
    path: str, batch_size: int, stats: ReadStats, parse: bool = True
) -> Iterator[list[Item] | ColumnBatch]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if stats.total_bytes == 0:
        return  # an empty file loads nothing (spec: "empty files")
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileRejected("not a Parquet file") from exc
    schema = pf.schema_arrow
    for field in schema:
        if pa.types.is_timestamp(field.type) and field.type.tz is None:
            raise FileRejected(
                f"Parquet column {field.name} is a timestamp without time zone"
            )
    total_rows = pf.metadata.num_rows or 1
    row_no = 0
    try:
        for record_batch in pf.iter_batches(batch_size=batch_size):
            if not record_batch.num_rows:
                continue
            batch = ColumnBatch(row_no + 1, _microseconds(record_batch))
            row_no += record_batch.num_rows
            stats.items += record_batch.num_rows
            stats.bytes_read = stats.total_bytes * row_no // total_rows
            yield _parquet_items(batch) if parse else batch
    except (pa.ArrowException, OSError) as exc:
        raise FileRejected(
            f"Parquet file is corrupt near row {row_no + 1}: {exc}"
        ) from exc
    stats.bytes_read = stats.total_bytes
