"""One table per rule of DESIGN.md "Validation rules", with the edge cases it lists.

Every case runs through both public paths (validate_record and validate_batch), so a fast path
can never drift from the plain one on a listed case.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from validation import (
    ERROR_REFERENCE,
    SYSTEM_EVENTS,
    FieldMapping,
    MappingSpec,
    validate_batch,
    validate_record,
)
from validation.contact import email_library
from validation.spec import PROHIBITED_EVENT_CHARS
from validation.values import WHITE_SPACE

MESSAGE = {code: info.message for code, info in ERROR_REFERENCE.items()}


def both(row, spec):
    """The outcome of validate_record, after checking validate_batch agrees."""
    plain = validate_record(row, spec)
    fast = validate_batch([row], spec)[0]
    assert fast == plain
    return plain


def profile_spec(*fields: FieldMapping) -> MappingSpec:
    return MappingSpec(sync_type="profile", identity_column="id", fields=list(fields))


def event_spec(*fields: FieldMapping, timestamp_format=None) -> MappingSpec:
    return MappingSpec(
        sync_type="event",
        identity_column="id",
        event_name_column="name",
        timestamp_column="ts",
        timestamp_format=timestamp_format,
        fields=list(fields),
    )


def field_verdict(value, target="x", type="String", date_format=None, sync="profile"):
    """(codes of the field's errors, the payload value) for one value in one field."""
    mapping = FieldMapping(column="col", target=target, type=type, date_format=date_format)
    if sync == "profile":
        spec, row = profile_spec(mapping), {"id": "u1", "col": value}
    else:
        spec, row = event_spec(mapping), {"id": "u1", "name": "Bought", "col": value}
    out = both(row, spec)
    codes = [error.code for error in out.errors]
    assert all(error.field == "col" for error in out.errors)
    assert all(error.message == MESSAGE[error.code] for error in out.errors)
    return codes, out.payload.get(target)


# --- identity ------------------------------------------------------------------------------

VALID_IDENTITIES = [
    ("u1", "u1"),
    ("  u1  ", "u1"),
    ("nullable", "nullable"),
    ("n / a", "n / a"),
    ("00", "00"),
    ("0.0", "0.0"),  # text is compared as text; only numbers become integer text
    (12345, "12345"),
    (12345.0, "12345"),
    (Decimal("12345.00"), "12345"),
    (1.5, "1.5"),
    ("a" * 1024, "a" * 1024),
    ("  " + "a" * 1024 + "\t", "a" * 1024),  # the limit applies after trimming
    ("user@example.com", "user@example.com"),
]


@pytest.mark.parametrize(("value", "identity"), VALID_IDENTITIES)
def test_valid_identity(value, identity):
    out = both({"id": value}, profile_spec())
    assert out.ok and out.identity == identity and out.errors == []


RESERVED = ["null", "undefined", "0", "n/a", "none"]
INVALID_IDENTITIES = (
    [word for word in RESERVED]
    + [word.upper() for word in RESERVED]
    + [f"  {word.title()}\t" for word in RESERVED]
    + ["nULL", " N/A ", "UnDeFiNeD"]
    + [None, "", "   ", "\n\t", 0, 0.0, -0.0, Decimal("0.00"), False, True]
    + [math.nan, math.inf, -math.inf, Decimal("NaN"), [], {}, b"u1", object()]
    + ["a" * 1025, " " + "a" * 1025 + " ", 10**1030]
    # NUL: the store cannot hold it, and dropping it would merge "a\0b" into "ab" (issue 15).
    + ["a\x00b", "\x00", " u1\x00 "]
)


def _identity_id(value) -> str:
    """A test id that is the same in every process (pytest -n): a bare object's repr is its
    address."""
    return "object()" if type(value) is object else repr(value)[:30]


@pytest.mark.parametrize("value", INVALID_IDENTITIES, ids=_identity_id)
def test_invalid_identity(value):
    out = both({"id": value}, profile_spec())
    assert not out.ok
    assert out.errors == [("id", "invalid_identity", "Invalid identity or CleverTap ID")]


def test_missing_identity_column_is_an_invalid_identity():
    out = both({"other": "x"}, profile_spec())
    assert [e.code for e in out.errors] == ["invalid_identity"] and out.identity is None


def test_invalid_identity_is_shown_as_given():
    assert both({"id": " NULL "}, profile_spec()).identity == "NULL"
    assert both({"id": 0}, profile_spec()).identity == "0"
    assert both({"id": "   "}, profile_spec()).identity is None


def test_clevertap_id_follows_the_same_rule():
    spec = MappingSpec(sync_type="profile", identity_column="ctid", identity_kind="clevertap_id")
    assert both({"ctid": "__abc123"}, spec).ok
    assert [e.code for e in both({"ctid": "undefined"}, spec).errors] == ["invalid_identity"]


# --- numbers -------------------------------------------------------------------------------

INTEGERS = [
    (42, 42),
    ("42", 42),
    (" 42 ", 42),
    ("-12", -12),
    ("+7", 7),
    ("3.0", 3),
    ("3.50e1", 35),
    ("1e3", 1000),
    ("1E3", 1000),
    (3.0, 3),
    (-0.0, 0),
    (Decimal("3.00"), 3),
    (10**30, 10**30),
    ("123456789012345678901234567890", 123456789012345678901234567890),
]
NOT_INTEGERS = [
    "3.5",
    3.5,
    "1e-3",
    Decimal("2.5"),
    "abc",
    "1,000",
    "1_000",
    "0x10",
    "--1",
    "1e",
    "e3",
    ".",
    "١٢",  # Arabic-Indic digits: not ASCII
    "nan",
    "NaN",
    "inf",
    "-Infinity",
    math.nan,
    math.inf,
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("Infinity"),
    True,
    False,
    "true",
    "1e5000",  # more digits than a number can be written out with
    "9" * 5000,
    [1],
    {"a": 1},
    date(2024, 1, 1),
]


@pytest.mark.parametrize(("value", "expected"), INTEGERS)
def test_integer(value, expected):
    codes, payload = field_verdict(value, type="Integer")
    assert codes == [] and payload == expected and type(payload) is int


@pytest.mark.parametrize("value", NOT_INTEGERS, ids=lambda v: repr(v)[:30])
def test_not_integer(value):
    assert field_verdict(value, type="Integer") == (["not_numeric"], None)


FLOATS = [
    (3.5, 3.5),
    ("3.50", 3.5),
    (" -12 ", -12.0),
    ("1e3", 1000.0),
    (".5", 0.5),
    ("5.", 5.0),
    ("+1.5E-2", 0.015),
    (42, 42.0),
    (Decimal("2.25"), 2.25),
    ("1.7976931348623157e308", 1.7976931348623157e308),
]
NOT_FLOATS = [
    "abc",
    "nan",
    "inf",
    "Infinity",
    "1e400",  # overflows a float
    10**400,
    math.nan,
    math.inf,
    -math.inf,
    Decimal("NaN"),
    Decimal("1e400"),
    True,
    "1_0",
    "1 000",
]


@pytest.mark.parametrize(("value", "expected"), FLOATS)
def test_float(value, expected):
    codes, payload = field_verdict(value, type="Float")
    assert codes == [] and payload == expected and type(payload) is float


@pytest.mark.parametrize("value", NOT_FLOATS, ids=lambda v: repr(v)[:30])
def test_not_float(value):
    assert field_verdict(value, type="Float") == (["not_numeric"], None)


# --- booleans and communication preferences ------------------------------------------------

BOOLEANS = [
    (True, True),
    (False, False),
    (1, True),
    (0, False),
    (1.0, True),
    (0.0, False),
    (Decimal("1"), True),
    (Decimal("0.0"), False),
    ("1", True),
    ("0", False),
    ("true", True),
    ("false", False),
    ("TRUE", True),
    ("False", False),
    ("tRuE", True),
    (" true ", True),
    ("\t0\n", False),
]
NOT_BOOLEANS = [
    2,
    -1,
    0.5,
    math.nan,
    Decimal("NaN"),
    "yes",
    "no",
    "t",
    "f",
    "y",
    "1.0",
    "01",
    "truee",
    "on",
    "null",
    [],
    {"a": 1},
    date(2024, 1, 1),
]


@pytest.mark.parametrize(("value", "expected"), BOOLEANS)
def test_boolean(value, expected):
    codes, payload = field_verdict(value, type="Boolean")
    assert codes == [] and payload is expected


@pytest.mark.parametrize("value", NOT_BOOLEANS, ids=repr)
def test_not_boolean(value):
    assert field_verdict(value, type="Boolean") == (["invalid_boolean"], None)


COMM_PREF_TARGETS = [
    "MSG-email",
    "MSG-push",
    "MSG-sms",
    "MSG-whatsapp",
    "MSG-dndPhone",
    "MSG-dndEmail",
    "MSG-dndSMS",
    "MSG-dndWhatsApp",
    "MSG-anythingElse",
]


@pytest.mark.parametrize("target", COMM_PREF_TARGETS)
@pytest.mark.parametrize(("value", "expected"), BOOLEANS[:10])
def test_comm_pref(target, value, expected):
    codes, payload = field_verdict(value, target=target, type="Boolean")
    assert codes == [] and payload is expected


@pytest.mark.parametrize("target", COMM_PREF_TARGETS)
@pytest.mark.parametrize("value", ["yes", "2", 2, "opt-in", math.nan])
@pytest.mark.parametrize("declared", ["Boolean", "String", "Integer"])
def test_comm_pref_gives_only_its_own_error(target, value, declared):
    assert field_verdict(value, target=target, type=declared) == (["invalid_comm_pref"], None)


# --- dates -----------------------------------------------------------------------------------


def utc(*args):
    return datetime(*args, tzinfo=UTC)


DATES = [
    ("31/01/2024 10:20:30", utc(2024, 1, 31, 10, 20, 30)),
    ("31/01/2024", utc(2024, 1, 31)),
    ("1/2/2024", utc(2024, 2, 1)),  # dd/MM: the first of February
    ("01/02/2024 00:00:00", utc(2024, 2, 1)),
    ("29/02/2024", utc(2024, 2, 29)),
    ("2024/01/31 10:20:30", utc(2024, 1, 31, 10, 20, 30)),
    ("2024/01/31", utc(2024, 1, 31)),
    ("2024/1/5", utc(2024, 1, 5)),
    ("2024-01-31", utc(2024, 1, 31)),
    ("2024-1-5", utc(2024, 1, 5)),
    ("2024-01-31T10:20:30", utc(2024, 1, 31, 10, 20, 30)),
    ("2024-01-31 10:20:30", utc(2024, 1, 31, 10, 20, 30)),
    ("2024-01-31T10:20", utc(2024, 1, 31, 10, 20)),
    ("2024-01-31T10:20:30Z", utc(2024, 1, 31, 10, 20, 30)),
    ("2024-01-31T10:20:30+05:30", utc(2024, 1, 31, 4, 50, 30)),
    ("2024-01-31T10:20:30-0800", utc(2024, 1, 31, 18, 20, 30)),
    ("2024-01-31T10:20:30+01", utc(2024, 1, 31, 9, 20, 30)),
    ("2024-01-31T10:20:30.123456", utc(2024, 1, 31, 10, 20, 30, 123456)),
    ("2024-01-31 10:20:30.5Z", utc(2024, 1, 31, 10, 20, 30, 500000)),
    ("2024-01-31T10:20:30.123456789+00:00", utc(2024, 1, 31, 10, 20, 30, 123456)),
    ("31 Jan 2024 10:20:30", utc(2024, 1, 31, 10, 20, 30)),
    ("5 jan 2024 10:20:30", utc(2024, 1, 5, 10, 20, 30)),
    ("05 DEC 2024 23:59:59", utc(2024, 12, 5, 23, 59, 59)),
    # epochs: seconds have 1 to 10 digits, milliseconds exactly 13
    (0, utc(1970, 1, 1)),
    ("0", utc(1970, 1, 1)),
    (1700000000, utc(2023, 11, 14, 22, 13, 20)),
    ("1700000000", utc(2023, 11, 14, 22, 13, 20)),
    (9999999999, utc(2286, 11, 20, 17, 46, 39)),
    (1700000000123, utc(2023, 11, 14, 22, 13, 20, 123000)),
    ("1700000000123", utc(2023, 11, 14, 22, 13, 20, 123000)),
    ("0000000000001", utc(1970, 1, 1, 0, 0, 0, 1000)),
    (1700000000.0, utc(2023, 11, 14, 22, 13, 20)),
    (Decimal("1700000000"), utc(2023, 11, 14, 22, 13, 20)),
    ("$D_1700000000", utc(2023, 11, 14, 22, 13, 20)),
    ("$D_0", utc(1970, 1, 1)),
    # date objects
    (date(2024, 1, 31), utc(2024, 1, 31)),
    (datetime(2024, 1, 31, 10, 20), utc(2024, 1, 31, 10, 20)),  # naive: taken as UTC
    (
        datetime(2024, 1, 31, 10, 20, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        utc(2024, 1, 31, 4, 50),
    ),
]
NOT_DATES = [
    "31/02/2024",
    "29/02/2023",
    "32/01/2024",
    "31/13/2024",
    "2024-02-30",
    "2024-13-01",
    "2024-00-10",
    "2024-01-31T24:00:00",
    "2024-01-31T10:60:00",
    "2024-01-31T10:20:60",
    "2024-01-31T10:20:30+24:00",
    "2024-01-31T10:20:30+05:60",
    "2024-01-31T1:20:30",
    "31/01/2024 10:20",  # dd/MM/yyyy HH:mm without seconds is not a listed format
    "31/01/24",
    "31 Jan 2024",  # dd MMM yyyy needs the time
    "31 Foo 2024 10:20:30",
    "31 January 2024 10:20:30",
    "January 31, 2024",
    "2024.01.31",
    "24-01-31",
    "20240131T102030",
    "2024-01-31T10:20:30 UTC",
    "yesterday",
    "17000000000",  # 11 digits
    "170000000000",  # 12 digits
    "17000000000000",  # 14 digits
    17000000000,
    170000000000,
    17000000000000,
    -1,
    "-1",
    1.5,
    1700000000.5,
    "1700000000.5",
    math.nan,
    math.inf,
    Decimal("NaN"),
    True,
    False,
    "$D_",
    "$D_12345678901",
    "$D_-5",
    "$D_abc",
    "$d_1700000000",
    "１７００００００００",  # full-width digits
    time(10, 20),
    [2024, 1, 31],
]


@pytest.mark.parametrize(("value", "expected"), DATES, ids=lambda v: repr(v)[:40])
def test_date(value, expected):
    codes, payload = field_verdict(value, type="Date")
    assert codes == [] and payload == expected and payload.tzinfo is UTC


@pytest.mark.parametrize("value", NOT_DATES, ids=lambda v: repr(v)[:40])
def test_not_date(value):
    assert field_verdict(value, type="Date") == (["invalid_date"], None)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("01/31/2024", True),
        ("1/5/2024", True),
        ("31/01/2024", False),  # the built-in formats are replaced
        ("2024-01-31", False),
        (1700000000, True),  # epochs and date objects still count
        ("1700000000", True),
        ("$D_1700000000", True),
        (date(2024, 1, 31), True),
    ],
)
def test_explicit_date_format(value, ok):
    codes, payload = field_verdict(value, type="Date", date_format="MM/dd/yyyy")
    assert (codes == []) is ok and (payload is not None) is ok


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        ("dd.MM.yyyy HH:mm", "31.01.2024 10:20", utc(2024, 1, 31, 10, 20)),
        ("yyyyMMdd", "20240131", utc(2024, 1, 31)),
        (
            "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
            "2024-01-31T10:20:30.250+01:00",
            utc(2024, 1, 31, 9, 20, 30, 250000),
        ),
        ("MMM d, yyyy", "Jan 5, 2024", utc(2024, 1, 5)),
        ("d-M-yyyy H:mm", "5-1-2024 7:05", utc(2024, 1, 5, 7, 5)),
    ],
)
def test_explicit_date_format_tokens(fmt, value, expected):
    assert field_verdict(value, type="Date", date_format=fmt) == ([], expected)


# --- email -------------------------------------------------------------------------------------

EMAILS = [
    ("a@b.co", "a@b.co"),
    ("John.Doe+tag@Example.COM", "John.Doe+tag@example.com"),  # the domain is lower-cased
    ("  a@b.co  ", "a@b.co"),
    ("first_last-1@sub.domain.co.uk", "first_last-1@sub.domain.co.uk"),
    ("INFO@example.com", "info@example.com"),  # RFC 2142 mailbox names are case-insensitive
    ("x@y.c0m", "x@y.c0m"),
    ("a@xn--bcher-kva.com", "a@bücher.com"),
    ("josé@exämple.com", "josé@exämple.com"),
    ("用户@例子.广告", "用户@例子.广告"),
    ("ü@Straße.de", email_library("ü@Straße.de")),
]
NOT_EMAILS = [
    "ab.com",
    "a@b",  # no dotted domain
    "a@localhost",
    "a@example.test",  # special-use domains
    "a@host.local",
    "a@x.invalid",
    "a@x.onion",
    "a@10.in-addr.arpa",
    "a@b.123",  # a top-level domain ends with a letter
    "a@@b.com",
    "a@b@c.com",
    "@b.com",
    "a@",
    "a b@c.com",
    ".a@b.com",
    "a.@b.com",
    "a..b@c.com",
    "a@-b.com",
    "a@b-.com",
    "a@b..com",
    "a@.b.com",
    "a@b.com.",
    "a@b_c.com",
    "a@ab--cd.com",
    "a@xn--zz.com",
    "John <a@b.com>",  # display names are not allowed
    '"a b"@c.com',  # nor quoted local parts
    "a@[1.2.3.4]",  # nor IP literals
    "a@b.co\u200b",
    "a\u0000@b.co",
    "ａ@ｂ.ｃｏ＠",
    "a@" + "b" * 64 + ".com",  # a label over 63 characters
    "a" * 250 + "@b.co",  # over 254 characters
    12345,
    True,
]


@pytest.mark.parametrize(("value", "expected"), EMAILS)
@pytest.mark.parametrize("declared", ["String", "Integer"])  # Email's own rule replaces the type
def test_email(value, expected, declared):
    assert field_verdict(value, target="Email", type=declared) == ([], expected)


@pytest.mark.parametrize("value", NOT_EMAILS, ids=lambda v: repr(v)[:40])
def test_not_email(value):
    assert field_verdict(value, target="Email") == (["invalid_email"], None)


# --- phone -------------------------------------------------------------------------------------

PHONES = [
    ("+919876543210", "+919876543210"),
    ("+91 98765 43210", "+919876543210"),
    ("+91-98765-43210", "+919876543210"),
    ("+1 (415) 555.2671", "+14155552671"),
    ("(+91) 98765 43210", "+919876543210"),
    ("  +49 151 23456789 ", "+4915123456789"),
    ("+91 12345", "+9112345"),  # 5 digits after the country code
    ("+912345678901234", "+912345678901234"),  # 15 digits in all
    ("+44 020 7946 0958", "+442079460958"),  # phonenumbers drops the national prefix
    ("+800 1234 5678", "+80012345678"),  # a non-geographic country code
]
NOT_PHONES = [
    "919876543210",  # no +
    919876543210,
    "0091 98765 43210",
    "+999 1234567",  # no country has 999
    "+0 1234567",
    "+91 1234",  # 4 digits after the country code
    "+1 2345",
    "+1234",
    "+9123456789012345",  # 16 digits
    "+91 98765x43210",
    "+91 98765 43210 ext 5",
    "+91/98765/43210",
    "++919876543210",
    "+",
    "+ ",
    "+٩١٩٨٧٦٥٤٣٢١٠",  # Arabic-Indic digits
    "+1 800 FLOWERS",
    True,
]


@pytest.mark.parametrize(("value", "expected"), PHONES)
@pytest.mark.parametrize("declared", ["String", "Boolean"])  # Phone's own rule replaces the type
def test_phone(value, expected, declared):
    assert field_verdict(value, target="Phone", type=declared) == ([], expected)


@pytest.mark.parametrize("value", NOT_PHONES, ids=repr)
def test_not_phone(value):
    assert field_verdict(value, target="Phone") == (["invalid_phone"], None)


# --- strings and standard text targets ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  hello  ", "hello"),
        ("a\tb", "a\tb"),
        (42, "42"),
        (2.5, "2.5"),
        (Decimal("12.50"), "12.50"),
        (True, "true"),
        (date(2024, 1, 31), "2024-01-31"),
        ({"a": [1, "é"]}, '{"a": [1, "é"]}'),
    ],
)
@pytest.mark.parametrize("target", ["Name", "Gender", "nickname"])
def test_string(value, expected, target):
    assert field_verdict(value, target=target) == ([], expected)


def test_dob_follows_the_date_rule_whatever_its_declared_type():
    assert field_verdict("1990-05-17", target="DOB", type="String") == ([], utc(1990, 5, 17))
    assert field_verdict("31/02/1990", target="DOB", type="String") == (["invalid_date"], None)


# --- event names ---------------------------------------------------------------------------------


def event_verdict(name, **row):
    out = both({"id": "u1", "name": name, **row}, event_spec())
    return [(e.field, e.code) for e in out.errors], out.event_name


@pytest.mark.parametrize(
    "name",
    [
        "Product Viewed",
        "Added-To_Cart",
        "Charged (web)",
        "App Launched Twice",
        "App  Launched",
        "Ordered 2 items",
        "Café visité",
        "  Bought  ",
    ],
)
def test_valid_event_name(name):
    assert event_verdict(name) == ([], name.strip())


@pytest.mark.parametrize("name", [None, "", "   ", "\t\n"])
def test_missing_event_name(name):
    assert event_verdict(name)[0] == [("name", "missing_event_name")]


def test_missing_event_name_column_value():
    out = both({"id": "u1"}, event_spec())
    assert [(e.field, e.code, e.message) for e in out.errors] == [
        ("name", "missing_event_name", "Event name is missing")
    ]


@pytest.mark.parametrize("name", SYSTEM_EVENTS)
@pytest.mark.parametrize("casing", [str, str.lower, str.upper, str.swapcase, lambda s: f"  {s}\t"])
def test_system_event_name(name, casing):
    assert event_verdict(casing(name)) == ([("name", "system_event")], casing(name).strip())


@pytest.mark.parametrize("char", list(PROHIBITED_EVENT_CHARS))
@pytest.mark.parametrize("where", ["{}Bought", "Bou{}ght", "Bought{}"])
def test_prohibited_event_char(char, where):
    assert event_verdict(where.format(char))[0] == [("name", "prohibited_event_char")]


def test_every_prohibited_character_of_the_reference():
    assert set(PROHIBITED_EVENT_CHARS) == set("%><!|&.:;$'\"\\#")


# --- timestamps ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   "])
def test_blank_timestamp_is_not_an_error(value):
    out = both({"id": "u1", "name": "Bought", "ts": value}, event_spec())
    assert out.ok and out.timestamp is None


def test_absent_timestamp_column_is_not_an_error():
    assert both({"id": "u1", "name": "Bought"}, event_spec()).timestamp is None


@pytest.mark.parametrize(("value", "expected"), DATES, ids=lambda v: repr(v)[:40])
def test_timestamp(value, expected):
    out = both({"id": "u1", "name": "Bought", "ts": value}, event_spec())
    assert out.ok and out.timestamp == expected


@pytest.mark.parametrize("value", NOT_DATES, ids=lambda v: repr(v)[:40])
def test_invalid_timestamp(value):
    out = both({"id": "u1", "name": "Bought", "ts": value}, event_spec())
    assert out.errors == [
        ("ts", "invalid_timestamp", "Timestamp value is in an unsupported format or data type")
    ]
    assert out.timestamp is None


def test_timestamp_format():
    spec = event_spec(timestamp_format="MM/dd/yyyy HH:mm")
    assert both({"id": "u", "name": "B", "ts": "01/31/2024 10:20"}, spec).timestamp == utc(
        2024, 1, 31, 10, 20
    )
    assert not both({"id": "u", "name": "B", "ts": "31/01/2024 10:20:00"}, spec).ok


# --- white space -----------------------------------------------------------------------------------

# Unicode's White_Space property as PropList.txt lists it (Unicode 15.1; unchanged since 6.3).
PROPLIST_WHITE_SPACE = [*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B)] + [
    0x2028,
    0x2029,
    0x202F,
    0x205F,
    0x3000,
]
NOT_WHITE_SPACE = "\x1c\x1d\x1e\x1f"  # Python's isspace() says yes; Unicode and DESIGN.md say no


def test_white_space_is_the_unicode_property():
    assert sorted(map(ord, WHITE_SPACE)) == PROPLIST_WHITE_SPACE
    python_space = {chr(c) for c in range(0x110000) if chr(c).isspace()}
    assert python_space - set(WHITE_SPACE) == set(NOT_WHITE_SPACE)
    assert set(WHITE_SPACE) <= python_space


@pytest.mark.parametrize(
    ("value", "target"),
    [
        ("\x1cabcd@example.com", "Email"),
        ("abcd@example.co\x1f", "Email"),
        ("\x1d abcd@example.com ", "Email"),
        ("+54\x1c800-123-4567", "Phone"),
        ("\x1e+54 800 123 4567", "Phone"),
        ("+54 800 123 4567\x1f", "Phone"),
    ],
    ids=repr,
)
def test_control_separators_make_an_email_or_phone_invalid(value, target):
    code = "invalid_email" if target == "Email" else "invalid_phone"
    assert field_verdict(value, target=target) == ([code], None)


@pytest.mark.parametrize("space", list(WHITE_SPACE), ids=lambda c: f"U+{ord(c):04X}")
def test_every_white_space_character_is_trimmed(space):
    around = lambda text: space + text + space * 2  # noqa: E731
    assert both({"id": around("u1")}, profile_spec()).identity == "u1"
    assert field_verdict(around("42"), type="Integer") == ([], 42)
    assert field_verdict(around("-3.5"), type="Float") == ([], -3.5)
    assert field_verdict(around("TRUE"), type="Boolean") == ([], True)
    assert field_verdict(around("31/01/2024"), type="Date") == ([], utc(2024, 1, 31))
    assert field_verdict(around("abc"), type="String") == ([], "abc")
    assert field_verdict(around("A@Example.COM"), target="Email") == ([], "A@example.com")
    assert field_verdict(around("+54 800-123-4567"), target="Phone") == ([], "+548001234567")
    assert field_verdict(space * 3, type="Integer") == ([], None)  # blank: omitted
    assert event_verdict(around("Bought")) == ([], "Bought")
    assert event_verdict(around("app launched")) == ([("name", "system_event")], "app launched")
    assert event_verdict(space)[0] == [("name", "missing_event_name")]
    out = both({"id": "u1", "name": "B", "ts": around("2024-01-31 10:20:30")}, event_spec())
    assert out.ok and out.timestamp == utc(2024, 1, 31, 10, 20, 30)
    assert both({"id": "u1", "name": "B", "ts": space}, event_spec()).ok  # blank timestamp


@pytest.mark.parametrize("space", ["\t", "\xa0", "\u3000", "\u2028", "\u2009"], ids=repr)
def test_white_space_inside_a_phone_is_a_separator(space):
    value = f"+54{space}800{space}123{space}{space}4567"
    assert field_verdict(value, target="Phone") == ([], "+548001234567")


@pytest.mark.parametrize("control", list(NOT_WHITE_SPACE), ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("where", ["{}{}", "{1}{0}", " {}\t{} "])
def test_control_characters_are_not_trimmed(control, where):
    around = lambda text: where.format(control, text)  # noqa: E731
    kept = lambda text: around(text).strip(WHITE_SPACE)  # noqa: E731
    assert both({"id": around("u1")}, profile_spec()).identity == kept("u1")
    assert both({"id": around("null")}, profile_spec()).identity == kept("null")  # not reserved
    assert field_verdict(around("42"), type="Integer") == (["not_numeric"], None)
    assert field_verdict(around("42"), type="Float") == (["not_numeric"], None)
    assert field_verdict(around("1e3"), type="Float") == (["not_numeric"], None)
    assert field_verdict(around("true"), type="Boolean") == (["invalid_boolean"], None)
    assert field_verdict(around("1"), target="MSG-sms") == (["invalid_comm_pref"], None)
    assert field_verdict(around("31/01/2024"), type="Date") == (["invalid_date"], None)
    assert field_verdict(around("1700000000"), type="Date") == (["invalid_date"], None)
    assert field_verdict(around("$D_1700000000"), type="Date") == (["invalid_date"], None)
    assert field_verdict(around("a@b.co"), target="Email") == (["invalid_email"], None)
    assert field_verdict(around("+548001234567"), target="Phone") == (["invalid_phone"], None)
    assert field_verdict(around("abc"), type="String") == ([], kept("abc"))
    assert field_verdict(control, type="String") == ([], control)  # not blank
    assert event_verdict(around("App Launched")) == ([], kept("App Launched"))  # no system event
    assert event_verdict(control) == ([], control)  # not missing
    out = both({"id": "u1", "name": "B", "ts": around("2024-01-31")}, event_spec())
    assert [e.code for e in out.errors] == ["invalid_timestamp"]


# --- records as a whole ----------------------------------------------------------------------------

PROFILE = profile_spec(
    FieldMapping("mail", "Email"),
    FieldMapping("phone", "Phone"),
    FieldMapping("dob", "DOB", "Date"),
    FieldMapping("age", "age", "Integer"),
    FieldMapping("vip", "vip", "Boolean"),
    FieldMapping("sms", "MSG-sms", "Boolean"),
    FieldMapping("name", "Name"),
)


def test_good_profile_payload():
    out = both(
        {
            "id": " u1 ",
            "mail": "A@B.CO",
            "phone": "+91 98765 43210",
            "dob": "17/05/1990",
            "age": "42",
            "vip": "TRUE",
            "sms": 0,
            "name": " Ann ",
            "unmapped": "x",
        },
        PROFILE,
    )
    assert out.ok and out.identity == "u1" and out.event_name is None and out.timestamp is None
    assert out.payload == {
        "Email": "A@b.co",
        "Phone": "+919876543210",
        "DOB": utc(1990, 5, 17),
        "age": 42,
        "vip": True,
        "MSG-sms": False,
        "Name": "Ann",
    }


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_blank_values_are_omitted(blank):
    row = {
        "id": "u1",
        **{column: blank for column in ("mail", "phone", "dob", "age", "vip", "sms", "name")},
    }
    out = both(row, PROFILE)
    assert out.ok and out.payload == {}


def test_every_error_is_reported_identity_first():
    out = both(
        {
            "id": "none",
            "mail": "nope",
            "phone": "12345",
            "dob": "31/02/2024",
            "age": "3.5",
            "vip": "yes",
            "sms": "2",
            "name": "ok",
        },
        PROFILE,
    )
    assert [(e.field, e.code) for e in out.errors] == [
        ("id", "invalid_identity"),
        ("mail", "invalid_email"),
        ("phone", "invalid_phone"),
        ("dob", "invalid_date"),
        ("age", "not_numeric"),
        ("vip", "invalid_boolean"),
        ("sms", "invalid_comm_pref"),
    ]
    assert all(e.message == MESSAGE[e.code] for e in out.errors)


def test_one_error_per_source_column():
    spec = profile_spec(
        FieldMapping("id", "Email"),
        FieldMapping("x", "a", "Integer"),
        FieldMapping("x", "b", "Boolean"),
    )
    out = both({"id": "null", "x": "maybe"}, spec)
    assert [(e.field, e.code) for e in out.errors] == [
        ("id", "invalid_identity"),
        ("x", "not_numeric"),
    ]


def test_identity_column_may_also_feed_a_property():
    spec = profile_spec(FieldMapping("id", "Email"), FieldMapping("id", "Identity"))
    out = both({"id": "Ann@Example.com"}, spec)
    assert (
        out.ok and out.identity == "Ann@Example.com" and out.payload == {"Email": "Ann@example.com"}
    )


def test_identity_target_of_a_clevertap_id_profile_follows_the_identity_rule():
    spec = MappingSpec(
        sync_type="profile",
        identity_column="ctid",
        identity_kind="clevertap_id",
        fields=[FieldMapping("uid", "Identity")],
    )
    assert both({"ctid": "c1", "uid": "u1"}, spec).payload == {"Identity": "u1"}
    assert [e.code for e in both({"ctid": "c1", "uid": "null"}, spec).errors] == [
        "invalid_identity"
    ]


def test_event_outcome():
    spec = event_spec(
        FieldMapping("amount", "amount", "Float"),
        FieldMapping("mail", "Email"),
        FieldMapping("ts", "created", "Date"),
    )
    out = both(
        {
            "id": 42,
            "name": " Charged ",
            "ts": "2024-01-31T10:00:00+01:00",
            "amount": "9.99",
            "mail": "not an email",
        },
        spec,
    )
    assert out.ok and out.identity == "42" and out.event_name == "Charged"
    assert out.timestamp == utc(2024, 1, 31, 9)
    # in an event every field is a property validated by its type: Email is just text here
    assert out.payload == {"amount": 9.99, "Email": "not an email", "created": utc(2024, 1, 31, 9)}


def test_event_spec_without_special_columns_in_fields():
    spec = MappingSpec(sync_type="event", identity_column="uid", event_name_column="evt")
    out = both({"uid": "u", "evt": "Bought", "extra": 1}, spec)
    assert out.ok and out.payload == {} and out.timestamp is None


def test_event_errors_in_order():
    spec = event_spec(FieldMapping("qty", "qty", "Integer"))
    out = both({"id": "", "name": "App Launched", "ts": "soon", "qty": "x"}, spec)
    assert [(e.field, e.code) for e in out.errors] == [
        ("id", "invalid_identity"),
        ("name", "system_event"),
        ("ts", "invalid_timestamp"),
        ("qty", "not_numeric"),
    ]


def test_row_values_of_every_warehouse_type():
    spec = event_spec(
        FieldMapping("a", "a", "Float"),
        FieldMapping("b", "b", "Integer"),
        FieldMapping("c", "c", "Boolean"),
        FieldMapping("d", "d", "Date"),
        FieldMapping("e", "e", "String"),
    )
    row = {
        "id": Decimal("1001"),
        "name": "Bought",
        "ts": datetime(2024, 1, 31, 10),
        "a": Decimal("1.25"),
        "b": Decimal("7"),
        "c": True,
        "d": date(2024, 2, 1),
        "e": None,
    }
    out = both(row, spec)
    assert out.ok and out.identity == "1001" and out.timestamp == utc(2024, 1, 31, 10)
    assert out.payload == {"a": 1.25, "b": 7, "c": True, "d": utc(2024, 2, 1)}


def test_str_subclasses_are_text():
    class Text(str):
        pass

    out = both({"id": Text(" u1 "), "mail": Text(" A@B.CO "), "age": Text(" 7 ")}, PROFILE)
    assert out.ok and out.identity == "u1" and out.payload == {"Email": "A@b.co", "age": 7}
    assert type(out.identity) is str
