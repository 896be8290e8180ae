"""The reader thread: parse, validate and encode a request file ahead of the loader.

Parsing is Python work; merging is PostgreSQL work. A thread that reads while the loading
thread waits on the server (psycopg releases the GIL while it waits) keeps both of this
machine's cores busy. The queue is bounded, so memory stays flat whatever the file size.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from dataclasses import dataclass, field
from operator import itemgetter

from ingest.formats import ColumnBatch, ParseError, ReadStats, iter_batches, raw_text
from ingest.loader.fast_path import split_lines, split_record_batch
from ingest.loader.requests import RequestEncoder
from ingest.loader.staging import ChunkStager, StagedChunk
from ingest.validation import KNOWN_FIELDS, unknown_fields, validate_record


@dataclass
class Checked:
    """One batch after validation: good rows, rejected records and unknown field counts."""

    good: list = field(default_factory=list)
    rejects: list = field(default_factory=list)
    unknown: Counter = field(default_factory=Counter)
    # Rows of the fast paths (JSON lines, Parquet), kept column by column: line numbers and columns.
    lines: list = field(default_factory=list)
    columns: list | None = None


def check_batch(kind: str, batch: list) -> Checked:
    """Validate a batch of items from ``iter_batches``."""
    checked = Checked()
    good, rejects, known, validate = checked.good, checked.rejects, KNOWN_FIELDS[kind], validate_record
    for line, raw, obj, source in batch:
        if type(obj) is ParseError:
            rejects.append((line, obj.field, obj.reason, raw))
            continue
        row, bad_field, reason = validate(kind, obj, source)
        if row is None:
            rejects.append((line, bad_field, reason, raw_text(raw, obj)))
            continue
        good.append((line, row))
        if not obj.keys() <= known:
            checked.unknown.update(unknown_fields(kind, obj))
    return checked


def check_request_batch(batch) -> Checked:
    """Validate a batch of request items; unparsed JSON lines and Parquet columns take the
    fast path first."""
    if isinstance(batch, ColumnBatch):
        lines, columns, left = split_record_batch(batch)
        checked = check_batch("requests", left) if left else Checked()
        checked.lines, checked.columns = lines, columns
        return checked
    unparsed = [item for item in batch if item[2] is None]
    if not unparsed:
        return check_batch("requests", batch)
    lines, columns, left = split_lines(unparsed)
    if len(unparsed) < len(batch):
        left.extend(item for item in batch if item[2] is not None)
        left.sort(key=itemgetter(0))
    checked = check_batch("requests", left) if left else Checked()
    checked.lines, checked.columns = lines, columns
    return checked


@dataclass
class Staged:
    """What the reader hands the loader for one batch (its rows went to the staging table)."""

    rejects: list
    unknown: Counter
    bytes_read: int
    items: int


@dataclass
class ChunkEnd:
    chunk: StagedChunk | None
    months: set[str]


_END = object()


class RequestReader(threading.Thread):
    """Reads a request file into staging tables, handing the loader a Staged item per batch
    and a ChunkEnd every ``chunk_rows`` rows.

    The first chunk is a fifth of the others: the loader has nothing to merge until it ends.
    """

    def __init__(self, path: str, encoder: RequestEncoder, stager: ChunkStager, stats: ReadStats,
                 batch_size: int, chunk_rows: int, max_batches_ahead: int = 32):
        super().__init__(name="ingest-reader", daemon=True)
        self._path, self._encoder, self._stager, self._stats = path, encoder, stager, stats
        self._batch_size, self._chunk_rows = batch_size, chunk_rows
        self._queue: queue.Queue = queue.Queue(maxsize=max_batches_ahead)
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            self._read()
            self._put(_END)
        except BaseException as exc:  # handed to the loading thread, which re-raises it
            self._put(exc)
        finally:
            self._stager.abandon()

    def _read(self) -> None:
        in_chunk, chunk_rows = 0, max(1, self._chunk_rows // 5)
        encoder, stats = self._encoder, self._stats
        for batch in iter_batches(self._path, "requests", self._batch_size, stats, parse=False):
            if self._stop_event.is_set():
                return
            checked = check_request_batch(batch)
            data, rows, repeat_data, repeats = encoder.encode(checked.good, checked.lines, checked.columns)
            self._stager.write(data, rows, repeat_data, repeats)
            self._put(Staged(checked.rejects, checked.unknown, stats.bytes_read, stats.items))
            in_chunk += rows
            if in_chunk >= chunk_rows:
                self._end_chunk()
                in_chunk, chunk_rows = 0, self._chunk_rows
        self._end_chunk()

    def _end_chunk(self) -> None:
        self._put(ChunkEnd(self._stager.seal(), set(self._encoder.months)))
        self._encoder.months.clear()
        self._encoder.new_chunk()

    def _put(self, item) -> None:
        while not self._stop_event.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def items(self):
        """Yield Staged and ChunkEnd items until the file ends; re-raise the reader's error."""
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)
