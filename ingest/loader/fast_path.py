"""Fast paths for request records of JSON Lines and Parquet files.

JSON lines are decoded by msgspec, which checks types, lengths and integer ranges in C;
Parquet columns come typed from Arrow and are checked a column at a time.

The exact validator (:mod:`ingest.validation`) stays the judge. This path accepts a record
only when it can tell, a column at a time, that the validator would accept it and store
the same values. A record it is unsure of (a decode error, an unknown field, a token count
written as ``12.0``, a timestamp with an offset, an escaped NUL, ...) is parsed with orjson
and checked by the validator as before, so rejection reasons and stored values are the
same on both paths; only the common record is cheaper (measured: about half the reader's
time per row, see bench/results/ingest.md).

Values on this path keep their decoded types (``int``, ``bool``, the RFC 3339 text in its
``...T...Z`` form); the COPY formatter writes them as PostgreSQL reads the validator's
strings, so both kinds of row can share one staging COPY.
"""

from __future__ import annotations

import re
from typing import Annotated

import ciso8601
import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from ingest.formats import ColumnBatch, parse_json_line
from ingest.validation import (
    BOOL,
    CATEGORY,
    COUNTRY,
    ENUM,
    ID,
    INT,
    IP,
    IPV4_PATTERN,
    KNOWN_FIELDS,
    REQUEST_SPEC,
    SIMHASH,
    STR,
    TS,
    country_code,
    ip_text,
)

_PYTHON_TYPES = {ID: str, STR: str, CATEGORY: str, TS: str, IP: str, COUNTRY: str, ENUM: str, SIMHASH: str,
                 INT: int, BOOL: bool}


def _field(name: str, ftype: int, required: bool, extra) -> tuple:
    python_type = _PYTHON_TYPES[ftype]
    if ftype in (ID, STR, CATEGORY):
        python_type = Annotated[str, msgspec.Meta(max_length=extra)]
    elif ftype == INT:
        python_type = Annotated[int, msgspec.Meta(ge=extra[0], le=extra[1])]
    if required:
        return name, python_type
    return name, python_type | None, None


# Unknown fields are refused here so that the exact path counts them by name.
_Record = msgspec.defstruct(
    "RequestRecord", [_field(*spec) for spec in REQUEST_SPEC], kw_only=True, forbid_unknown_fields=True, gc=False,
)
_decode = msgspec.json.Decoder(_Record).decode
_DecodeErrors = (msgspec.ValidationError, msgspec.DecodeError)
_astuple = msgspec.structs.astuple
_BAD = object()

# The gateway form, which PostgreSQL reads to the same instant the validator writes: "Z",
# at most six fraction digits (PostgreSQL rounds a seventh, the validator cuts it).
_TS_FORM = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z"
_TS_COLUMN = re.compile(rf"(?:{_TS_FORM}\n)*", re.ASCII).fullmatch
_TS_ONE = re.compile(_TS_FORM, re.ASCII).fullmatch
_IPV4_COLUMN = re.compile(rf"(?:{IPV4_PATTERN}\n)*", re.ASCII).fullmatch
_IPV4_ONE = re.compile(IPV4_PATTERN, re.ASCII).fullmatch
_SIMHASH_COLUMN = re.compile(r"(?:[0-9a-fA-F]{16}\n)*", re.ASCII).fullmatch
_parse_rfc3339 = ciso8601.parse_rfc3339


def split_lines(items: list) -> tuple[list[int], list[list], list]:
    """Split unparsed JSON-line items into fast rows, as columns, and the items left over.

    Returns ``(line numbers, columns in REQUEST_FIELDS order, items for the exact path)``;
    the left-over items come parsed (``obj`` filled in), ready for ``check_batch``.
    """
    texts = [item[1] for item in items]
    slow: set[int] = set()
    if "\\u0000" in "".join(texts):  # an escaped NUL, which a text column cannot store
        slow.update(i for i, text in enumerate(texts) if "\\u0000" in text)
    decoded, records = _decode_all(texts, slow)
    # Fields come out of each struct as one tuple and are transposed in C: 2.8-3.1 µs a row
    # against 3.6-4.1 for one attrgetter pass per field. Columns are tuples until changed.
    columns = list(zip(*map(_astuple, records), strict=True)) or [() for _ in REQUEST_SPEC]
    bad: set[int] = set()
    for i, spec in enumerate(REQUEST_SPEC):
        columns[i] = _check_column(columns[i], spec, bad)
    if bad:
        slow.update(decoded[i] for i in bad)
        decoded, columns = _without(bad, decoded, columns)
    lines = [items[i][0] for i in decoded]
    left = [(items[i][0], items[i][1], parse_json_line(items[i][1]), "json") for i in sorted(slow)]
    return lines, columns, left


def _without(bad: set[int], positions: list[int], columns: list[list]) -> tuple[list[int], list[list]]:
    """``positions`` and ``columns`` without the rows at the indexes in ``bad``."""
    keep = [i for i in range(len(positions)) if i not in bad]
    return [positions[i] for i in keep], [[column[i] for i in keep] for column in columns]


def _decode_all(texts: list[str], slow: set[int]) -> tuple[list[int], list]:
    """Decode every text not already set aside; the ones that fail join ``slow``."""
    if not slow:
        try:
            return list(range(len(texts))), list(map(_decode, texts))
        except _DecodeErrors:
            pass
    decoded, records = [], []
    for i, text in enumerate(texts):
        if i in slow:
            continue
        try:
            records.append(_decode(text))
        except _DecodeErrors:
            slow.add(i)
            continue
        decoded.append(i)
    return decoded, records


def _check_column(column: list, spec: tuple, bad: set[int]) -> list:
    """Normalize a column as the validator would; rows it cannot vouch for join ``bad``."""
    name, ftype, required, _extra = spec
    if ftype in (INT, BOOL):  # msgspec checked type and range
        return [200 if v is None else v for v in column] if name == "status_code" and None in column else column
    if "" in column:
        if required:  # the validator says "is required"
            bad.update(i for i, v in enumerate(column) if v == "")
        else:
            column = [v or None for v in column]
    if ftype in (ID, STR):
        return column
    if ftype == TS:
        return _check_timestamps(column, bad)
    if ftype == IP:
        return _check_ips(column, bad)
    if ftype == SIMHASH:
        if not _column_matches(_SIMHASH_COLUMN, [v for v in column if v is not None]):
            bad.update(i for i, v in enumerate(column) if v is not None and not _column_matches(_SIMHASH_COLUMN, [v]))
        return column
    return _map_distinct(column, _DISTINCT[ftype](spec), bad)


def _column_matches(whole, values: list) -> bool:
    """Whether every value matches, tested in one regex call over the joined column.

    A value holding a line break of its own would split into two that match; counting the
    breaks catches it.
    """
    if not values:
        return True
    joined = "\n".join(values) + "\n"
    return joined.count("\n") == len(values) and whole(joined) is not None


def _check_timestamps(column: list, bad: set[int]) -> list:
    if not _column_matches(_TS_COLUMN, column):
        bad.update(i for i, v in enumerate(column) if v is None or not _TS_ONE(v))
    try:
        list(map(_parse_rfc3339, column))  # a real date and time (no 31 April, no hour 24)
    except (ValueError, TypeError):
        bad.update(i for i, v in enumerate(column) if not _valid_time(v))
    return column


def _valid_time(value) -> bool:
    try:
        _parse_rfc3339(value)
    except (ValueError, TypeError):
        return False
    return True


def _check_ips(column: list, bad: set[int]) -> list:
    if _column_matches(_IPV4_COLUMN, column):
        return column
    column = list(column)
    for i, v in enumerate(column):
        if not _IPV4_ONE(v):
            compressed = ip_text(v)  # IPv6, or an IPv4 form the validator rewrites
            if compressed is None:
                bad.add(i)
            else:
                column[i] = compressed
    return column


def _map_distinct(column: list, normalize, bad: set[int]) -> list:
    """Normalize a low-cardinality column through its distinct values."""
    mapping = {v: (None if v is None else normalize(v)) for v in set(column)}
    rejected = {v for v, n in mapping.items() if n is _BAD}
    if rejected:
        bad.update(i for i, v in enumerate(column) if v in rejected)
    if all(n == v for v, n in mapping.items()):
        return column
    return list(map(mapping.get, column))


def _enum(spec: tuple):
    allowed = frozenset(spec[3])
    return lambda v: lowered if (lowered := v.lower()) in allowed else _BAD


def _country(_spec: tuple):
    return lambda v: country_code(v) or _BAD


def _category(_spec: tuple):
    return str.lower


_DISTINCT = {ENUM: _enum, COUNTRY: _country, CATEGORY: _category}


# --- Parquet ----------------------------------------------------------------------------------

_TEXT_TYPES = (ID, STR, CATEGORY, IP, COUNTRY, ENUM, SIMHASH)
_KNOWN = KNOWN_FIELDS["requests"]


def split_record_batch(batch: ColumnBatch) -> tuple[list[int], list[list], list]:
    """The Parquet twin of :func:`split_lines`: (row numbers, columns, items for the exact path).

    A batch with a column the spec does not know, or a column of another type than the
    field's (a float token count, timestamps in a zone other than UTC, ...), goes whole to
    the exact path, which counts unknown fields and words the reasons.
    """
    record_batch = batch.record_batch
    n = record_batch.num_rows
    names = set(record_batch.schema.names)
    schema = record_batch.schema
    if (len(names) < record_batch.num_columns or not names <= _KNOWN
            or not all(_fits(schema.field(name).type, _TYPE_OF[name]) for name in names)):
        return [], [], batch.rows(range(n))
    bad: set[int] = set()
    columns = []
    for spec in REQUEST_SPEC:
        name, ftype, required, extra = spec
        column = _pylist(record_batch.column(name), ftype) if name in names else [None] * n
        if required and None in column:  # the validator says "is required"
            bad.update(i for i, v in enumerate(column) if v is None)
            if ftype not in (INT, BOOL):  # the checks below read text
                column = ["" if v is None else v for v in column]
        _check_limits(column, ftype, extra, bad)
        columns.append(_check_column(column, spec, bad))
    if not bad:
        return list(range(batch.first_row, batch.first_row + n)), columns, []
    rows, columns = _without(bad, list(range(batch.first_row, batch.first_row + n)), columns)
    return rows, columns, batch.rows(sorted(bad))


_TYPE_OF = {spec[0]: spec[1] for spec in REQUEST_SPEC}
_UNITS = ("s", "ms", "us")  # the reader cuts nanoseconds to microseconds
# Other zones take the exact path, which turns each value into a datetime in the column's
# zone: a zone name Python cannot resolve, or a local time past year 9999, is a rejected
# row there (naming the column), so it must not load here.
_UTC_ZONES = ("UTC", "Etc/UTC", "+00:00")


def _fits(arrow_type, ftype: int) -> bool:
    if pa.types.is_null(arrow_type):
        return True
    if ftype in _TEXT_TYPES:
        return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
    if ftype == INT:
        return pa.types.is_integer(arrow_type)
    if ftype == BOOL:
        return pa.types.is_boolean(arrow_type)
    return (pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
            or (pa.types.is_timestamp(arrow_type) and arrow_type.unit in _UNITS and arrow_type.tz in _UTC_ZONES))


def _pylist(array, ftype: int) -> list:
    if ftype == TS and pa.types.is_timestamp(array.type):
        # As RFC 3339 text in UTC, the form the JSON path checks ("%S" carries the fraction).
        utc = array.cast(pa.timestamp(array.type.unit, "UTC"))
        return pc.strftime(utc, format="%Y-%m-%dT%H:%M:%SZ").to_pylist()
    return array.to_pylist()


def _check_limits(column: list, ftype: int, extra, bad: set[int]) -> None:
    """What msgspec checks on the JSON path: string lengths and NULs, integer ranges."""
    if ftype in (ID, STR, CATEGORY) and max(map(len, filter(None, column)), default=0) > extra:
        bad.update(i for i, v in enumerate(column) if v and len(v) > extra)
    if ftype in _TEXT_TYPES or ftype == TS:
        if "\x00" in "".join(filter(None, column)):
            bad.update(i for i, v in enumerate(column) if v and "\x00" in v)
    elif ftype == INT:
        present = [v for v in column if v is not None]
        lo, hi = extra
        if present and (min(present) < lo or max(present) > hi):
            bad.update(i for i, v in enumerate(column) if v is not None and not lo <= v <= hi)
