"""The validator: every rule of log-format.md's record tables and "Values" section."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.formats import ParseError
from ingest.validation import (
    ACCOUNT_FIELDS,
    COUNTRY_CODES,
    KNOWN_FIELDS,
    REQUEST_FIELDS,
    unknown_fields,
    validate_record,
)

BASE_REQUEST = {
    "request_id": "req_1",
    "ts": "2026-04-22T01:15:09.120Z",
    "account_id": "acct_1",
    "ip": "192.0.2.1",
    "model": "model-a",
    "input_tokens": 10,
    "output_tokens": 20,
}
BASE_ACCOUNT = {"account_id": "acct_1", "created_at": "2025-11-03T09:12:44Z"}
CSV_REQUEST = {k: str(v) for k, v in BASE_REQUEST.items()}


def request(source: str = "json", **fields):
    """Validate BASE_REQUEST (or its CSV form) with ``fields`` replaced; None deletes."""
    record = dict(CSV_REQUEST if source == "csv" else BASE_REQUEST)
    for name, value in fields.items():
        if value is None:
            record.pop(name, None)
        else:
            record[name] = value
    return validate_record("requests", record, source)


def value(name: str, source: str = "json", **fields):
    row, field, reason = request(source, **fields)
    assert row is not None, (field, reason)
    return row[REQUEST_FIELDS.index(name)]


def rejection(source: str = "json", **fields) -> tuple[str, str]:
    row, field, reason = request(source, **fields)
    assert row is None, row
    return field, reason


# --- field lists -------------------------------------------------------------------


def test_field_tuples_follow_the_spec_order():
    assert ACCOUNT_FIELDS[:3] == ("account_id", "created_at", "org_id")
    assert ACCOUNT_FIELDS[-1] == "status" and len(ACCOUNT_FIELDS) == 15
    assert REQUEST_FIELDS[:3] == ("request_id", "ts", "account_id")
    assert REQUEST_FIELDS[-1] == "prompt_excerpt" and len(REQUEST_FIELDS) == 29
    assert KNOWN_FIELDS == {
        "accounts": frozenset(ACCOUNT_FIELDS),
        "requests": frozenset(REQUEST_FIELDS),
    }


def test_valid_minimal_request_gives_a_row_of_strings_and_nones():
    row, field, reason = request()
    assert field is None and reason is None
    assert len(row) == len(REQUEST_FIELDS)
    assert all(v is None or type(v) is str for v in row)
    assert row[REQUEST_FIELDS.index("api_key_id")] is None


def test_valid_minimal_account_gives_a_row():
    row, _field, reason = validate_record("accounts", BASE_ACCOUNT, "json")
    assert reason is None
    assert row[:2] == ("acct_1", "2025-11-03 09:12:44.000000+00")
    assert row[2:] == (None,) * 13


# --- records that are not objects ----------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "got"),
    [
        ([1, 2], "array"),
        ("x", "string"),
        (12, "number"),
        (True, "boolean"),
        (None, "null"),
    ],
)
def test_record_that_is_not_a_json_object_is_rejected(obj, got):
    assert validate_record("requests", obj, "json") == (
        None,
        "_record",
        f"record is not a JSON object (got {got})",
    )


def test_parse_error_is_passed_through_as_the_rejection():
    error = ParseError("_line", "not valid JSON: x")
    assert validate_record("requests", error, "json") == (
        None,
        "_line",
        "not valid JSON: x",
    )


def test_unknown_source_is_a_programming_error():
    with pytest.raises(ValueError, match="source"):
        validate_record("requests", dict(BASE_REQUEST), "xml")


# --- required and absent --------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["request_id", "ts", "account_id", "ip", "model", "input_tokens", "output_tokens"],
)
@pytest.mark.parametrize("absent", [None, "null", ""])
def test_missing_null_or_empty_required_request_field_is_rejected_naming_it(
    name, absent
):
    record = dict(BASE_REQUEST)
    if absent is None:
        del record[name]
    else:
        record[name] = None if absent == "null" else ""
    assert validate_record("requests", record, "json") == (
        None,
        name,
        f"{name} is required",
    )


@pytest.mark.parametrize("name", ["account_id", "created_at"])
def test_missing_required_account_field_is_rejected_naming_it(name):
    record = {k: v for k, v in BASE_ACCOUNT.items() if k != name}
    assert validate_record("accounts", record, "json") == (
        None,
        name,
        f"{name} is required",
    )


def test_required_fields_are_checked_before_other_errors():
    assert rejection(country="USA", account_id=None) == (
        "account_id",
        "account_id is required",
    )


def test_empty_csv_cell_for_required_field_is_rejected():
    assert rejection("csv", model="") == ("model", "model is required")


@pytest.mark.parametrize("absent", [None, ""])
def test_null_or_empty_optional_fields_are_absent(absent):
    fields = {
        n: absent
        for n in (
            "api_key_id",
            "country",
            "asn",
            "ip_type",
            "stream",
            "prompt_simhash",
            "turn",
        )
    }
    record = dict(BASE_REQUEST, **fields)
    row, _, reason = validate_record("requests", record, "json")
    assert reason is None
    for name in fields:
        assert row[REQUEST_FIELDS.index(name)] is None


def test_status_code_defaults_to_200_when_absent():
    assert value("status_code") == "200"
    assert value("status_code", status_code="") == "200"
    assert value("status_code", "csv", status_code="") == "200"


# --- timestamps ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("2026-04-22T01:15:09Z", "2026-04-22 01:15:09.000000+00"),
        ("2026-04-22T01:15:09.120Z", "2026-04-22 01:15:09.120000+00"),
        ("2026-04-22T01:15:09.5Z", "2026-04-22 01:15:09.500000+00"),
        ("2026-04-22T01:15:09.123456Z", "2026-04-22 01:15:09.123456+00"),
        ("2026-04-22t01:15:09z", "2026-04-22 01:15:09.000000+00"),
        ("2026-04-22 01:15:09Z", "2026-04-22 01:15:09.000000+00"),
        ("2026-04-22T01:15:09+00:00", "2026-04-22 01:15:09.000000+00"),
        ("2026-04-22T01:15:09-00:00", "2026-04-22 01:15:09.000000+00"),
        ("2026-04-22T09:40:55+02:00", "2026-04-22 07:40:55.000000+00"),
        ("2026-04-21T20:00:00.25-05:30", "2026-04-22 01:30:00.250000+00"),
        ("2026-12-31T23:30:00-01:00", "2027-01-01 00:30:00.000000+00"),
    ],
)
def test_rfc3339_timestamps_are_stored_in_utc_with_microseconds(text, stored):
    assert value("ts", ts=text) == stored


def test_timestamp_fraction_longer_than_microseconds_is_truncated_not_rounded():
    assert (
        value("ts", ts="2026-04-22T23:59:59.9999999999Z")
        == "2026-04-22 23:59:59.999999+00"
    )
    assert (
        value("ts", ts="2026-04-22T01:00:00.1234567+02:00")
        == "2026-04-21 23:00:00.123456+00"
    )


def test_timestamp_without_offset_is_rejected_naming_ts():
    field, reason = rejection(ts="2026-04-22T01:00:00")
    assert field == "ts" and reason.startswith("ts has no UTC offset")


def test_timestamp_with_fraction_but_without_offset_is_rejected_as_no_offset():
    assert rejection(ts="2026-04-22T01:00:00.5")[1].startswith("ts has no UTC offset")


def test_timestamp_with_second_60_is_rejected():
    field, reason = rejection(ts="2026-06-30T23:59:60Z")
    assert field == "ts" and "second 60" in reason


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2026-04-22",
        "2026-04-22T01:15Z",
        "20260422T011509Z",
        "2026-04-22T01:15:09+0200",
        "2026-04-22T01:15:09+02",
        "2026-04-22X01:15:09Z",
        "2026-04-22T01:15:09,5Z",
        "2026-04-22T01:15:09.Z",
        " 2026-04-22T01:15:09Z",
        "2026-04-22T01:15:09Z ",
        "2026-4-22T01:15:09Z",
        "2026-112T01:15:09Z",  # an ordinal date: ciso8601 parses it, RFC 3339 does not allow it
    ],
)
def test_timestamp_not_in_rfc3339_shape_is_rejected(text):
    field, reason = rejection(ts=text)
    assert field == "ts" and reason.startswith("ts is not an RFC 3339 timestamp"), (
        reason
    )


@pytest.mark.parametrize(
    "text", ["2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-04-22T24:00:00Z"]
)
def test_timestamp_with_impossible_date_or_time_is_rejected(text):
    field, reason = rejection(ts=text)
    assert field == "ts" and "RFC 3339" in reason


def test_timestamp_that_overflows_when_converted_to_utc_is_rejected():
    field, reason = rejection(ts="0001-01-01T00:30:00+01:00")
    assert field == "ts" and "out of range" in reason


def test_timestamp_of_wrong_json_type_is_rejected():
    assert rejection(ts=1745284509) == (
        "ts",
        "ts must be an RFC 3339 timestamp, got number 1745284509",
    )


def test_parquet_tz_aware_datetime_is_accepted_and_converted_to_utc():
    paris = timezone(timedelta(hours=2))
    assert value(
        "ts", "parquet", ts=datetime(2026, 4, 22, 9, 40, 55, 123, tzinfo=paris)
    ) == ("2026-04-22 07:40:55.000123+00")
    assert (
        value("ts", "parquet", ts=datetime(2026, 4, 22, 1, tzinfo=UTC))
        == "2026-04-22 01:00:00.000000+00"
    )


def test_parquet_rfc3339_string_timestamp_is_accepted():
    assert (
        value("ts", "parquet", ts="2026-04-22T01:15:09.120Z")
        == "2026-04-22 01:15:09.120000+00"
    )


def test_parquet_naive_datetime_is_rejected_as_no_offset():
    field, reason = rejection("parquet", ts=datetime(2026, 4, 22, 1))
    assert field == "ts" and reason.startswith("ts has no UTC offset")


def test_account_created_at_is_validated_like_ts():
    record = dict(BASE_ACCOUNT, created_at="2026-04-21T23:58:02+08:00")
    assert (
        validate_record("accounts", record, "json")[0][1]
        == "2026-04-21 15:58:02.000000+00"
    )
    record = dict(BASE_ACCOUNT, created_at="2026-04-21T23:58:02")
    assert validate_record("accounts", record, "json")[1] == "created_at"


# --- integers -----------------------------------------------------------------------


def test_json_integer_is_stored_as_decimal_string():
    assert value("input_tokens", input_tokens=1840) == "1840"


def test_json_float_without_fraction_is_accepted_as_integer():
    assert value("input_tokens", input_tokens=12.0) == "12"


def test_json_float_with_fraction_is_rejected():
    assert rejection(input_tokens=12.5) == (
        "input_tokens",
        "input_tokens must be an integer, got number 12.5",
    )


def test_json_string_integer_is_rejected_naming_the_type():
    assert rejection(input_tokens="12") == (
        "input_tokens",
        "input_tokens must be an integer, got string '12'",
    )


def test_json_boolean_is_not_an_integer():
    assert rejection(output_tokens=True) == (
        "output_tokens",
        "output_tokens must be an integer, got boolean true",
    )


def test_negative_tokens_are_rejected():
    assert rejection(input_tokens=-5) == (
        "input_tokens",
        "input_tokens must be an integer >= 0, got -5",
    )


@pytest.mark.parametrize(
    ("name", "lo", "hi"),
    [
        ("input_tokens", 0, 10_000_000),
        ("output_tokens", 0, 10_000_000),
        ("latency_ms", 0, 86_400_000),
        ("asn", 0, 4_294_967_295),
        ("turn", 1, 100_000),
        ("tool_count", 0, 10_000),
        ("status_code", 100, 599),
    ],
)
def test_integer_bounds_are_inclusive_and_enforced(name, lo, hi):
    assert value(name, **{name: lo}) == str(lo)
    assert value(name, **{name: hi}) == str(hi)
    assert rejection(**{name: lo - 1})[0] == name
    field, reason = rejection(**{name: hi + 1})
    assert field == name and reason.endswith(f"got {hi + 1}")


def test_turn_zero_is_rejected_as_below_one():
    assert rejection(turn=0) == ("turn", "turn must be an integer >= 1, got 0")


def test_status_code_out_of_range_names_the_range():
    assert rejection(status_code=700) == (
        "status_code",
        "status_code must be an integer between 100 and 599, got 700",
    )


def test_too_large_integer_names_the_upper_bound():
    assert rejection(tool_count=10_001) == (
        "tool_count",
        "tool_count must be an integer <= 10,000, got 10001",
    )


def test_huge_json_number_is_rejected_as_out_of_range():
    field, reason = rejection(asn=1e30)
    assert field == "asn" and "<= 4,294,967,295" in reason


def test_signup_asn_bounds_apply_to_accounts():
    record = dict(BASE_ACCOUNT, signup_asn=4_294_967_296)
    assert validate_record("accounts", record, "json")[1] == "signup_asn"


def test_csv_digits_are_integers():
    assert value("input_tokens", "csv", input_tokens="1840") == "1840"
    assert value("input_tokens", "csv", input_tokens="007") == "7"


def test_csv_negative_integer_gets_the_negative_reason():
    assert rejection("csv", input_tokens="-5") == (
        "input_tokens",
        "input_tokens must be an integer >= 0, got -5",
    )


@pytest.mark.parametrize("text", ["12.0", "1e3", " 12", "+12", "ten", "١٢", "²", "-"])
def test_csv_non_digit_integer_is_rejected(text):
    field, reason = rejection("csv", input_tokens=text)
    assert field == "input_tokens" and reason.startswith(
        "input_tokens must be an integer, got '"
    )


def test_csv_very_long_digit_string_is_out_of_range():
    field, reason = rejection("csv", output_tokens="9" * 5000)
    assert field == "output_tokens" and "<= 10,000,000" in reason and len(reason) < 120


# --- booleans -----------------------------------------------------------------------


def test_json_booleans_are_stored_as_true_false():
    assert value("stream", stream=True) == "true"
    assert value("stream", stream=False) == "false"


@pytest.mark.parametrize("bad", ["true", 1, 0, "yes"])
def test_json_non_boolean_is_rejected(bad):
    field, reason = rejection(stream=bad)
    assert field == "stream" and reason.startswith("stream must be true or false, got")


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("true", "true"),
        ("TRUE", "true"),
        ("True", "true"),
        ("1", "true"),
        ("false", "false"),
        ("FaLsE", "false"),
        ("0", "false"),
    ],
)
def test_csv_booleans_accept_true_false_1_0_in_any_case(text, stored):
    assert value("reasoning_requested", "csv", reasoning_requested=text) == stored


def test_csv_other_boolean_text_is_rejected():
    assert rejection("csv", stream="yes") == (
        "stream",
        "stream must be true, false, 1 or 0, got 'yes'",
    )


def test_account_phone_verified_is_a_boolean():
    assert (
        validate_record("accounts", dict(BASE_ACCOUNT, phone_verified=True), "json")[0][
            10
        ]
        == "true"
    )
    assert (
        validate_record("accounts", dict(BASE_ACCOUNT, phone_verified="y"), "json")[1]
        == "phone_verified"
    )


# --- enums, countries, category, simhash ---------------------------------------------


def test_enum_is_case_insensitive_and_stored_lower_case():
    assert value("ip_type", ip_type="Hosting") == "hosting"


def test_unknown_enum_value_is_rejected_listing_the_allowed_values():
    field, reason = rejection(ip_type="satellite")
    assert field == "ip_type"
    assert reason == (
        "ip_type must be one of residential, mobile, business, hosting, proxy, vpn, tor, unknown, got 'satellite'"
    )


def test_account_enums_are_checked():
    row = validate_record(
        "accounts",
        dict(BASE_ACCOUNT, payment_method="PREPAID_CARD", status="Closed"),
        "json",
    )[0]
    assert row[ACCOUNT_FIELDS.index("payment_method")] == "prepaid_card"
    assert row[ACCOUNT_FIELDS.index("status")] == "closed"
    assert (
        validate_record("accounts", dict(BASE_ACCOUNT, status="deleted"), "json")[1]
        == "status"
    )


def test_country_is_stored_upper_case():
    assert value("country", country="us") == "US"
    assert value("country", country="Sg") == "SG"


def test_three_letter_country_is_rejected():
    assert rejection(country="USA") == (
        "country",
        "country must be an ISO 3166-1 alpha-2 code, got 'USA'",
    )


@pytest.mark.parametrize("bad", ["XX", "UK", "ZZ", "U", "ﬁ", 12])
def test_country_not_in_iso_3166_is_rejected(bad):
    assert rejection(country=bad)[0] == "country"


def test_country_list_is_iso_3166_alpha2_plus_kosovo():
    assert len(COUNTRY_CODES) == 250 and "XK" in COUNTRY_CODES
    assert all(len(c) == 2 and c.isascii() and c.isupper() for c in COUNTRY_CODES)


def test_account_countries_are_checked():
    row, _field, _ = validate_record(
        "accounts",
        dict(BASE_ACCOUNT, signup_country="sg", billing_country="HK"),
        "json",
    )
    assert row[ACCOUNT_FIELDS.index("signup_country")] == "SG"
    assert (
        validate_record("accounts", dict(BASE_ACCOUNT, billing_country="HKG"), "json")[
            1
        ]
        == "billing_country"
    )


def test_known_category_is_kept():
    assert value("category", category="coding") == "coding"


def test_other_category_label_is_kept_lower_cased():
    assert value("category", category="Legal_Advice") == "legal_advice"


def test_prompt_simhash_is_16_hex_digits_stored_lower_case():
    assert (
        value("prompt_simhash", prompt_simhash="9F3A0C5E11D2B7A4") == "9f3a0c5e11d2b7a4"
    )


@pytest.mark.parametrize(
    "bad",
    [
        "9f3a0c5e11d2b7a",
        "9f3a0c5e11d2b7a4f",
        "9f3a0c5e11d2b7ag",
        "0x3a0c5e11d2b7a4",
        12,
    ],
)
def test_prompt_simhash_that_is_not_16_hex_digits_is_rejected(bad):
    assert rejection(prompt_simhash=bad)[0] == "prompt_simhash"


# --- IP addresses -------------------------------------------------------------------


def test_ipv4_is_kept():
    assert value("ip", ip="198.51.100.23") == "198.51.100.23"


def test_ipv6_is_stored_compressed():
    assert value("ip", ip="2001:0DB8:0000:0000:0000:0000:0000:0005") == "2001:db8::5"


def test_invalid_ip_is_rejected_quoting_it():
    assert rejection(ip="999.1.1.1") == (
        "ip",
        "ip is not a valid IPv4 or IPv6 address: '999.1.1.1'",
    )


@pytest.mark.parametrize(
    "bad", ["192.0.2.300", "192.0.2", "192.0.2.01", "fe80::1%eth0", "::g", "localhost"]
)
def test_malformed_addresses_are_rejected(bad):
    assert rejection(ip=bad)[0] == "ip"


def test_ip_of_wrong_type_is_rejected():
    assert rejection(ip=3232235521)[0] == "ip"


def test_account_signup_ip_is_checked():
    assert (
        validate_record(
            "accounts", dict(BASE_ACCOUNT, signup_ip="2001:DB8::1"), "json"
        )[0][4]
        == "2001:db8::1"
    )
    assert (
        validate_record("accounts", dict(BASE_ACCOUNT, signup_ip="1.2.3"), "json")[1]
        == "signup_ip"
    )


# --- strings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "limit"),
    [
        ("request_id", 64),
        ("account_id", 64),
        ("api_key_id", 64),
        ("org_id", 64),
        ("end_user_id", 64),
        ("conversation_id", 64),
        ("user_agent", 512),
        ("prompt_excerpt", 2000),
        ("model", 256),
        ("prompt_hash", 256),
        ("prompt_lang", 256),
        ("category", 256),
    ],
)
def test_string_length_limits_in_code_points(name, limit):
    assert (
        value(name, **{name: "é" * limit}) is not None
    )  # 2 bytes each: counted as one
    field, reason = rejection(**{name: "é" * (limit + 1)})
    assert field == name and reason.startswith(
        f"{name} must be at most {limit:,} characters, got {limit + 1:,}"
    )


def test_account_string_limits():
    assert (
        validate_record("accounts", dict(BASE_ACCOUNT, email="a" * 257), "json")[1]
        == "email"
    )
    assert (
        validate_record("accounts", dict(BASE_ACCOUNT, org_id="o" * 65), "json")[1]
        == "org_id"
    )


def test_number_where_string_expected_is_rejected():
    assert rejection(api_key_id=12) == (
        "api_key_id",
        "api_key_id must be a string, got number 12",
    )


def test_csv_digits_in_string_field_are_a_string():
    assert value("api_key_id", "csv", api_key_id="12") == "12"


def test_string_with_nul_character_is_rejected():
    field, reason = rejection(user_agent="sdk\x00")
    assert field == "user_agent" and "NUL" in reason


def test_long_offending_value_is_quoted_cut_to_about_40_characters():
    _, reason = rejection(ip="x" * 500)
    assert len(reason) < 100 and reason.endswith("…")


def test_free_strings_are_kept_as_given():
    record = dict(BASE_ACCOUNT, plan="Scale", signup_channel="Partner_X")
    row = validate_record("accounts", record, "json")[0]
    assert row[ACCOUNT_FIELDS.index("plan")] == "Scale"
    assert row[ACCOUNT_FIELDS.index("signup_channel")] == "Partner_X"


# --- parquet typed values -------------------------------------------------------------


def test_parquet_values_are_typed_like_json():
    assert value("input_tokens", "parquet", input_tokens=5) == "5"
    assert rejection("parquet", input_tokens="5")[0] == "input_tokens"
    assert value("stream", "parquet", stream=True) == "true"


# --- unknown fields -----------------------------------------------------------------


def test_unknown_fields_lists_fields_not_in_the_spec():
    record = dict(BASE_REQUEST, some_future_field=1, other="x")
    assert sorted(unknown_fields("requests", record)) == ["other", "some_future_field"]
    assert unknown_fields("requests", BASE_REQUEST) == []


def test_unknown_fields_ignores_absent_values():
    assert unknown_fields("requests", dict(BASE_REQUEST, extra="", more=None)) == []


def test_unknown_fields_do_not_reject_the_record():
    assert request(some_future_field=[1, 2])[0] is not None


def test_fields_of_the_other_kind_are_unknown():
    assert unknown_fields("accounts", dict(BASE_ACCOUNT, ts="x")) == ["ts"]
