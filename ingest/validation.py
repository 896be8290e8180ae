"""Record validator for Copycat log files (spec: log-format.md, "Account record" onwards).

Pure Python, no Django. :func:`validate_record` turns one parsed record (an ``obj`` from
:func:`ingest.formats.iter_batches`) into a row of COPY-ready values in
:data:`ACCOUNT_FIELDS` / :data:`REQUEST_FIELDS` order, or into the name of the first
offending field and a reason an operator can act on.

Row values are ``str`` or ``None`` (absent):

- timestamps: UTC, ``YYYY-MM-DD HH:MM:SS.ffffff+00`` (extra fraction digits truncated);
- integers: decimal strings, bounds checked; ``status_code`` defaults to ``"200"``;
- booleans: ``"true"`` / ``"false"``;
- enums and ``category``: lower-case; countries: upper-case ISO 3166-1 alpha-2;
- IP addresses: compressed textual form; ``prompt_simhash``: 16 lower-case hex digits;
- other strings: as given, length checked in code points.

Interpretations of the spec made here:

- ``org_id`` is an id (64 code points), like the other ``*_id`` fields.
- ``plan``, ``signup_channel`` and ``prompt_lang`` are free strings, kept as given.
- Countries: the 249 assigned ISO 3166-1 alpha-2 codes plus ``XK`` (Kosovo, user-assigned
  but what IP-geolocation databases emit).
- A string holding a NUL character is rejected: PostgreSQL text cannot store it.
- IPv6 addresses with a zone (``fe80::1%eth0``) are rejected: PostgreSQL cannot store them.
- Parquet values are typed like JSON (an integer column must hold integers); timestamps may
  be RFC 3339 strings or tz-aware datetimes.
- :func:`unknown_fields` counts a field only when its value is present (not null/empty),
  matching the spec's "absent" rule.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from ipaddress import ip_address

import ciso8601

from ingest.formats import ParseError

__all__ = [
    "ACCOUNT_FIELDS",
    "COUNTRY_CODES",
    "IPV4_PATTERN",
    "KNOWN_FIELDS",
    "REQUEST_FIELDS",
    "REQUEST_SPEC",
    "country_code",
    "ip_text",
    "unknown_fields",
    "validate_record",
]

# --- field specification -----------------------------------------------------------

ID, STR, TS, INT, BOOL, IP, COUNTRY, ENUM, CATEGORY, SIMHASH = range(10)

ID_MAX = 64
STR_MAX = 256

IP_TYPES = (
    "residential",
    "mobile",
    "business",
    "hosting",
    "proxy",
    "vpn",
    "tor",
    "unknown",
)
PAYMENT_METHODS = ("card", "prepaid_card", "bank_transfer", "invoice", "crypto", "none")
ACCOUNT_STATUSES = ("active", "suspended", "closed")
CATEGORIES = frozenset(
    [
        "coding",
        "agentic",
        "tool_use",
        "reasoning",
        "math",
        "data_analysis",
        "grading",
        "rewrite",
        "long_horizon",
        "vision",
        "writing",
        "chat",
        "translation",
        "other",
    ]
)

# (name, type, required, extra): extra is the length limit for strings, (lo, hi) for
# integers, the allowed values for enums.
_ACCOUNT_SPEC = (
    ("account_id", ID, True, ID_MAX),
    ("created_at", TS, True, None),
    ("org_id", ID, False, ID_MAX),
    ("email", STR, False, STR_MAX),
    ("signup_ip", IP, False, None),
    ("signup_country", COUNTRY, False, None),
    ("signup_asn", INT, False, (0, 4_294_967_295)),
    ("billing_country", COUNTRY, False, None),
    ("payment_fingerprint", STR, False, STR_MAX),
    ("payment_method", ENUM, False, PAYMENT_METHODS),
    ("phone_verified", BOOL, False, None),
    ("device_fingerprint", STR, False, STR_MAX),
    ("signup_channel", STR, False, STR_MAX),
    ("plan", STR, False, STR_MAX),
    ("status", ENUM, False, ACCOUNT_STATUSES),
)

_TOKENS = (0, 10_000_000)
_REQUEST_SPEC = (
    ("request_id", ID, True, ID_MAX),
    ("ts", TS, True, None),
    ("account_id", ID, True, ID_MAX),
    ("api_key_id", ID, False, ID_MAX),
    ("org_id", ID, False, ID_MAX),
    ("ip", IP, True, None),
    ("country", COUNTRY, False, None),
    ("asn", INT, False, (0, 4_294_967_295)),
    ("ip_type", ENUM, False, IP_TYPES),
    ("user_agent", STR, False, 512),
    ("client_fingerprint", STR, False, STR_MAX),
    ("end_user_id", ID, False, ID_MAX),
    ("model", STR, True, STR_MAX),
    ("status_code", INT, False, (100, 599)),
    ("input_tokens", INT, True, _TOKENS),
    ("output_tokens", INT, True, _TOKENS),
    ("latency_ms", INT, False, (0, 86_400_000)),
    ("category", CATEGORY, False, STR_MAX),
    ("prompt_hash", STR, False, STR_MAX),
    ("prompt_simhash", SIMHASH, False, None),
    ("template_hash", STR, False, STR_MAX),
    ("system_prompt_hash", STR, False, STR_MAX),
    ("conversation_id", ID, False, ID_MAX),
    ("turn", INT, False, (1, 100_000)),
    ("tool_count", INT, False, (0, 10_000)),
    ("reasoning_requested", BOOL, False, None),
    ("stream", BOOL, False, None),
    ("prompt_lang", STR, False, STR_MAX),
    ("prompt_excerpt", STR, False, 2_000),
)

REQUEST_SPEC = _REQUEST_SPEC  # read by the loader's fast path, which must agree with it
ACCOUNT_FIELDS: tuple[str, ...] = tuple(f[0] for f in _ACCOUNT_SPEC)
REQUEST_FIELDS: tuple[str, ...] = tuple(f[0] for f in _REQUEST_SPEC)
KNOWN_FIELDS: dict[str, frozenset[str]] = {
    "accounts": frozenset(ACCOUNT_FIELDS),
    "requests": frozenset(REQUEST_FIELDS),
}

# Assigned ISO 3166-1 alpha-2 codes (249), plus XK: user-assigned for Kosovo and used by
# IP-geolocation databases, so gateways emit it.
COUNTRY_CODES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ
    DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP
    GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG
    KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML
    MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
    PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL
    SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM
    US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK
    """.split()  # noqa: SIM905 - a table reads better than 250 quoted strings
)


# --- value checks --------------------------------------------------------------------

# RFC 3339 shape; ciso8601 alone is more lenient (no offset, "+0200", ...). The offset is
# optional here only to tell "no offset" apart from "not a timestamp".
_TS_SHAPE = re.compile(
    r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:\d\d)?", re.ASCII
).fullmatch
_IPV4_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4_PATTERN = rf"(?:{_IPV4_OCTET}\.){{3}}{_IPV4_OCTET}"  # canonical dotted quad, no leading zeros
_IPV4_CANONICAL = re.compile(IPV4_PATTERN, re.ASCII).fullmatch
_HEX = "0123456789abcdefABCDEF"
_UTC = UTC
_parse_rfc3339 = ciso8601.parse_rfc3339
_CUT = 40


def _show(value: object) -> str:
    """The offending value for a reason, quoted and cut to about 40 characters."""
    if isinstance(value, str):
        return repr(value[:_CUT]) + ("…" if len(value) > _CUT else "")
    text = repr(value)
    return text[:_CUT] + ("…" if len(text) > _CUT else "")


def _describe(value: object) -> str:
    """A JSON-flavoured type name and value: "string '12'", "number 12.5", "array"."""
    if isinstance(value, str):
        return f"string {_show(value)}"
    if isinstance(value, bool):
        return "boolean true" if value else "boolean false"
    if isinstance(value, (int, float)):
        return f"number {_show(value)}"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    if value is None:
        return "null"
    if isinstance(value, datetime):
        return f"timestamp {value.isoformat()}"
    return f"{type(value).__name__} {_show(value)}"


# Slow paths: called only for rare shapes and to word the reason when a check fails.


def _timestamp(name: str, v: object) -> tuple[str | None, str | None]:
    """Normalize an RFC 3339 string or a tz-aware datetime to UTC; return (value, reason)."""
    if type(v) is str:
        try:
            # ciso8601's RFC 3339 parser still takes ordinal dates ("2026-043T..."), which the
            # reshaping below would garble into text PostgreSQL rejects, failing the whole file.
            if not _TS_SHAPE(v):
                raise ValueError("not in RFC 3339 shape")
            dt = _parse_rfc3339(v)  # strict RFC 3339, unlike ciso8601.parse_datetime
        except ValueError as exc:
            return None, _timestamp_reason(name, v, exc)
        if dt.tzinfo is _UTC:
            # Common case: ciso8601 has validated the text, so reshape it as a string
            # (much cheaper than datetime formatting). Extra fraction digits are cut.
            n = len(v)
            if n == 24 and v[19] == ".":  # milliseconds and Z, the usual gateway form
                return f"{v[:10]} {v[11:23]}000+00", None
            end = n - 1 if v[-1] in "Zz" else n - 6
            fraction = (v[20:end] + "000000")[:6]
            return f"{v[:10]} {v[11:19]}.{fraction}+00", None
    elif isinstance(v, datetime):
        dt = v
        if dt.utcoffset() is None:
            return None, f"{name} has no UTC offset: {v.isoformat()}"
    else:
        return None, f"{name} must be an RFC 3339 timestamp, got {_describe(v)}"
    try:
        utc = dt.astimezone(_UTC).replace(tzinfo=None)
    except (OverflowError, ValueError):
        return None, f"{name} is out of range once converted to UTC: {_show(v)}"
    return utc.isoformat(" ", "microseconds") + "+00", None


def _timestamp_reason(name: str, v: str, exc: ValueError) -> str:
    if not _TS_SHAPE(v):
        return f"{name} is not an RFC 3339 timestamp: {_show(v)}"
    if v[-1] not in "Zz" and v[-6] not in "+-":
        return f"{name} has no UTC offset: {_show(v)}"
    if v[17:19] == "60":
        return f"{name} has second 60 (leap seconds are not accepted): {_show(v)}"
    return f"{name} is not a valid RFC 3339 timestamp ({exc}): {_show(v)}"


def _ip(name: str, v: object) -> tuple[str | None, str | None]:
    if type(v) is not str:
        return (
            None,
            f"{name} must be an IPv4 or IPv6 address string, got {_describe(v)}",
        )
    if "%" not in v:  # a zoned IPv6 address cannot be stored in PostgreSQL inet
        try:
            return ip_address(v).compressed, None
        except ValueError:
            pass
    return None, f"{name} is not a valid IPv4 or IPv6 address: {_show(v)}"


def _reason_string(name: str, v: object, limit: int) -> str:
    if type(v) is not str:
        return f"{name} must be a string, got {_describe(v)}"
    if "\x00" in v:
        return f"{name} contains a NUL character, which cannot be stored: {_show(v)}"
    return f"{name} must be at most {limit:,} characters, got {len(v):,}: {_show(v)}"


def _reason_int(name: str, v: object, lo: int, hi: int, text: bool) -> str:
    if name == "status_code":
        too_low = too_high = f"{name} must be an integer between {lo} and {hi}"
    else:
        too_low, too_high = (
            f"{name} must be an integer >= {lo}",
            f"{name} must be an integer <= {hi:,}",
        )
    if text:
        digits = v[1:] if v[:1] == "-" else v  # type: ignore[index]
        if not (digits.isdigit() and digits.isascii()):  # type: ignore[union-attr]
            return f"{name} must be an integer, got {_show(v)}"
        number = int(v) if len(digits) < 100 else (-1 if v[:1] == "-" else hi + 1)  # type: ignore[arg-type]
        shown = _show(v)[1:-1].rstrip("'")  # digits, unquoted
    elif type(v) is int or (type(v) is float and v.is_integer()):  # type: ignore[union-attr]
        number, shown = v, _show(v)  # type: ignore[assignment]
    else:
        return f"{name} must be an integer, got {_describe(v)}"
    return f"{too_low if number < lo else too_high}, got {shown}"


def _reason_bool(name: str, v: object, text: bool) -> str:
    if text:
        return f"{name} must be true, false, 1 or 0, got {_show(v)}"
    return f"{name} must be true or false, got {_describe(v)}"


def _reason_country(name: str, v: object) -> str:
    shown = _show(v) if type(v) is str else _describe(v)
    return f"{name} must be an ISO 3166-1 alpha-2 code, got {shown}"


def _reason_enum(name: str, v: object, allowed: tuple[str, ...]) -> str:
    shown = _show(v) if type(v) is str else _describe(v)
    return f"{name} must be one of {', '.join(allowed)}, got {shown}"


def _reason_simhash(name: str, v: object) -> str:
    shown = _show(v) if type(v) is str else _describe(v)
    return f"{name} must be 16 hexadecimal digits, got {shown}"


# --- compiled validators -----------------------------------------------------------
#
# Each (kind, source) gets one straight-line function generated from the spec tables
# above, so validating a record costs no per-field loop, dispatch or helper call on the
# common path: this is what keeps validation near the loader's 150k records/s budget.
# The generated code of each is kept in _SOURCES for reading and debugging.

_COUNTRY_LOOKUP = {
    variant: code
    for code in COUNTRY_CODES
    for variant in (
        code,
        code.lower(),
        code[0] + code[1].lower(),
        code[0].lower() + code[1],
    )
}
_CSV_BOOLS = {"true": "true", "1": "true", "false": "false", "0": "false"}

# Per field type: the block that validates and normalizes variable {v} in place. {absent}
# is the test for "absent" (differs for CSV, whose cells are always strings).
_TEMPLATES: dict[tuple[int, bool], str] = {}
for _text in (False, True):
    _TEMPLATES[ID, _text] = _TEMPLATES[STR, _text] = (
        """
    if {v}:
        if len({v}) > {limit} or "\\x00" in {v}:
            return None, {n!r}, _reason_string({n!r}, {v}, {limit})
    else:
        {v} = None
"""
        if _text
        else """
    if {v} is not None:
        if {v}.__class__ is not str or len({v}) > {limit} or "\\x00" in {v}:
            return None, {n!r}, _reason_string({n!r}, {v}, {limit})
        if not {v}:
            {v} = None
"""
    )
_TEMPLATES[INT, False] = """
    if {v} is not None:
        if {v}.__class__ is int and {lo} <= {v} <= {hi}:
            {v} = str({v})
        elif {v} == "":
            {v} = {default!r}
        elif {v}.__class__ is float and {v}.is_integer() and {lo} <= {v} <= {hi}:
            {v} = str(int({v}))
        else:
            return None, {n!r}, _reason_int({n!r}, {v}, {lo}, {hi}, False)
    else:
        {v} = {default!r}
"""
_TEMPLATES[INT, True] = """
    if {v}:
        if {v}.isdigit() and {v}.isascii() and len({v}) < 19 and {lo} <= (t := int({v})) <= {hi}:
            {v} = str(t)
        else:
            return None, {n!r}, _reason_int({n!r}, {v}, {lo}, {hi}, True)
    else:
        {v} = {default!r}
"""
_TEMPLATES[BOOL, False] = """
    if {v} is True:
        {v} = "true"
    elif {v} is False:
        {v} = "false"
    elif {v} is None or {v} == "":
        {v} = None
    else:
        return None, {n!r}, _reason_bool({n!r}, {v}, False)
"""
_TEMPLATES[BOOL, True] = """
    if {v}:
        t = _CSV_BOOLS.get({v}.lower())
        if t is None:
            return None, {n!r}, _reason_bool({n!r}, {v}, True)
        {v} = t
    else:
        {v} = None
"""
_TYPED_ABSENT = '{v} is None or {v} == ""'
_TEXT_ABSENT = "not {v}"
for _text in (False, True):
    _absent = _TEXT_ABSENT if _text else _TYPED_ABSENT
    _TEMPLATES[TS, _text] = f"""
    if {_absent}:
        {{v}} = None
    else:
        {{v}}, t = _timestamp({{n!r}}, {{v}})
        if t is not None:
            return None, {{n!r}}, t
"""
    _TEMPLATES[IP, _text] = f"""
    if {_absent}:
        {{v}} = None
    elif {{v}}.__class__ is not str or not _IPV4_CANONICAL({{v}}):
        {{v}}, t = _ip({{n!r}}, {{v}})
        if t is not None:
            return None, {{n!r}}, t
"""
    _TEMPLATES[COUNTRY, _text] = f"""
    if {_absent}:
        {{v}} = None
    else:
        t = _COUNTRY_LOOKUP.get({{v}}) if {{v}}.__class__ is str else None
        if t is None:
            return None, {{n!r}}, _reason_country({{n!r}}, {{v}})
        {{v}} = t
"""
    _TEMPLATES[ENUM, _text] = f"""
    if {_absent}:
        {{v}} = None
    elif {{v}}.__class__ is str and (t := {{v}}.lower()) in {{allowed}}:
        {{v}} = t
    else:
        return None, {{n!r}}, _reason_enum({{n!r}}, {{v}}, {{order}})
"""
    _TEMPLATES[CATEGORY, _text] = f"""
    if {_absent}:
        {{v}} = None
    elif {{v}}.__class__ is not str or len({{v}}) > {{limit}} or "\\x00" in {{v}}:
        return None, {{n!r}}, _reason_string({{n!r}}, {{v}}, {{limit}})
    else:
        {{v}} = {{v}}.lower()
"""
    _TEMPLATES[SIMHASH, _text] = f"""
    if {_absent}:
        {{v}} = None
    elif {{v}}.__class__ is str and len({{v}}) == 16 and {{v}}.isascii() and not {{v}}.strip(_HEX):
        {{v}} = {{v}}.lower()
    else:
        return None, {{n!r}}, _reason_simhash({{n!r}}, {{v}})
"""

_SOURCES: dict[tuple[str, str], str] = {}


def _compile(kind: str, spec: tuple, source: str):
    text = source == "csv"
    namespace = {
        name: value
        for name, value in globals().items()
        if name.startswith(
            (
                "_reason_",
                "_timestamp",
                "_ip",
                "_IPV4",
                "_COUNTRY_LOOKUP",
                "_CSV_BOOLS",
                "_HEX",
            )
        )
    }
    namespace["str"], namespace["int"] = str, int
    lines = [f"def validate_{kind}_{source}(obj):", "    get = obj.get"]
    # Required fields first, so a record missing one says so whatever else is wrong.
    for i, (name, _type, required, _extra) in enumerate(spec):
        if required:
            lines.append(f"    v{i} = get({name!r})")
            lines.append(f'    if v{i} is None or v{i} == "":')
            lines.append(f"        return None, {name!r}, {name + ' is required'!r}")
    for i, (name, ftype, required, extra) in enumerate(spec):
        if not required:
            lines.append(f"    v{i} = get({name!r})")
        fmt = {
            "v": f"v{i}",
            "n": name,
            "default": "200" if name == "status_code" else None,
        }
        if ftype in (ID, STR, CATEGORY):
            fmt["limit"] = extra
        elif ftype == INT:
            fmt["lo"], fmt["hi"] = extra
        elif ftype == ENUM:
            fmt["allowed"], fmt["order"] = f"_ALLOWED_{i}", f"_ORDER_{i}"
            namespace[f"_ALLOWED_{i}"], namespace[f"_ORDER_{i}"] = (
                frozenset(extra),
                extra,
            )
        lines.append(_TEMPLATES[ftype, text].format(**fmt).rstrip("\n").lstrip("\n"))
    lines.append(
        f"    return ({', '.join(f'v{i}' for i in range(len(spec)))},), None, None"
    )
    code = "\n".join(lines) + "\n"
    _SOURCES[kind, source] = code
    exec(compile(code, f"<validation {kind}/{source}>", "exec"), namespace)  # noqa: S102
    return namespace[f"validate_{kind}_{source}"]


_SPECS = {"accounts": _ACCOUNT_SPEC, "requests": _REQUEST_SPEC}
_VALIDATORS = {
    (kind, source): _compile(kind, spec, source)
    for kind, spec in _SPECS.items()
    for source in ("json", "csv", "parquet")
}

# --- public API ----------------------------------------------------------------------


def validate_record(
    kind: str, obj: object, source: str
) -> tuple[tuple | None, str | None, str | None]:
    """Return ``(row, None, None)`` for a valid record, else ``(None, field, reason)``.

    ``kind`` is ``'accounts'`` or ``'requests'``; ``source`` is ``'json'``, ``'csv'`` or
    ``'parquet'`` (CSV cells are text, so integers and booleans are read from text). A
    :class:`ingest.formats.ParseError` passed as ``obj`` is returned as the rejection.
    """
    if obj.__class__ is dict:
        try:
            validator = _VALIDATORS[kind, source]
        except KeyError:
            raise ValueError(
                f"unknown kind {kind!r} or source {source!r}: expected kind 'accounts' or "
                "'requests' and source 'json', 'csv' or 'parquet'"
            ) from None
        return validator(obj)
    if isinstance(obj, ParseError):
        return None, obj.field, obj.reason
    if isinstance(obj, dict):
        return validate_record(kind, dict(obj), source)
    return (
        None,
        "_record",
        f"record is not a JSON object (got {_describe(obj).split(' ')[0]})",
    )


def country_code(value: str) -> str | None:
    """The stored (upper-case) code for a country value, or None if it is not one."""
    return _COUNTRY_LOOKUP.get(value)


def ip_text(value: str) -> str | None:
    """The stored (compressed) form of an IP address string, or None if it is not one."""
    return _ip("ip", value)[0]


def unknown_fields(kind: str, obj: dict) -> list[str]:
    """Names of the fields in ``obj`` that the spec does not define and that carry a value."""
    known = KNOWN_FIELDS[kind]
    return [k for k, v in obj.items() if k not in known and v is not None and v != ""]
