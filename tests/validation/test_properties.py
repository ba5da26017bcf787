"""Properties over generated rows: validation never raises, reports only documented codes, and
every fast path gives the verdict of the plain path and of the libraries it stands in for."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import email_validator
import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from validation import (
    ERROR_CODES,
    MESSAGES,
    SYSTEM_EVENTS,
    FieldMapping,
    MappingSpec,
    engine,
    validate_batch,
    validate_record,
)
from validation.contact import (
    SPECIAL_USE_DOMAINS,
    email_fast,
    email_library,
    phone_fast,
    phone_library,
)
from validation.dates import (
    _ISO,
    _build_in_order,
    compile_date_format,
    parse_date_plain,
    parse_date_text,
)
from validation.spec import PROHIBITED_EVENT_CHARS
from validation.values import (
    _NUMERIC_TEXT,
    INVALID,
    MAX_INT_DIGITS,
    WHITE_SPACE,
    coerce_float,
    coerce_integer,
)

# Generating whole rows costs Hypothesis far more than validating them: rows get fewer examples
# than single values.
MANY = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROWS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PROFILE = MappingSpec(
    sync_type="profile",
    identity_column="id",
    fields=[
        FieldMapping("name", "Name"),
        FieldMapping("mail", "Email"),
        FieldMapping("phone", "Phone"),
        FieldMapping("gender", "Gender"),
        FieldMapping("dob", "DOB", "Date"),
        FieldMapping("s", "s", "String"),
        FieldMapping("i", "i", "Integer"),
        FieldMapping("f", "f", "Float"),
        FieldMapping("b", "b", "Boolean"),
        FieldMapping("d", "d", "Date"),
        FieldMapping("d2", "d2", "Date", date_format="MM/dd/yyyy HH:mm"),
        FieldMapping("sms", "MSG-sms", "Boolean"),
        FieldMapping("push", "MSG-push", "String"),
        FieldMapping("id", "id_copy", "Integer"),  # the identity column feeding a property too
        FieldMapping("mail", "mail_copy", "Boolean"),  # one column, two targets
    ],
)
EVENT = MappingSpec(
    sync_type="event",
    identity_column="id",
    identity_kind="clevertap_id",
    event_name_column="name",
    timestamp_column="ts",
    fields=[
        FieldMapping("s", "s", "String"),
        FieldMapping("i", "i", "Integer"),
        FieldMapping("f", "f", "Float"),
        FieldMapping("b", "b", "Boolean"),
        FieldMapping("d", "d", "Date"),
        FieldMapping("mail", "Email"),
        FieldMapping("ts", "created", "Date"),
    ],
)
EVENT_WITH_FORMAT = MappingSpec(
    sync_type="event",
    identity_column="id",
    event_name_column="name",
    timestamp_column="ts",
    timestamp_format="dd.MM.yyyy",
)
SPECS = [PROFILE, EVENT, EVENT_WITH_FORMAT]
COLUMNS = sorted(
    {
        c
        for spec in SPECS
        for c in (spec.identity_column, spec.event_name_column, spec.timestamp_column)
        if c
    }
    | {m.column for spec in SPECS for m in spec.fields}
)

# --- strategies ----------------------------------------------------------------------------

OFFSETS = st.sampled_from(
    [
        None,
        UTC,
        timezone(timedelta(hours=5, minutes=30)),
        timezone(timedelta(hours=-12)),
        timezone(timedelta(hours=14)),
    ]
)
EMAIL_CHARS = (
    string.ascii_letters[:6]
    + "XYZ019._-+@\"<> \\()[]:;,!#$%&'*/=?^`{|}~äß用\u200b\u0301＠﹫ＡＢ\t\u3000\x1c\x1f"
)
PHONE_CHARS = "+0123456789 -.()\t\u00a0x/٩\u3000\u2028\x1c\x1f"
KNOWN_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)

labels = st.from_regex(r"[a-zA-Z0-9-]{0,12}", fullmatch=True) | st.sampled_from(
    [
        "xn--bcher-kva",
        "xn--zz",
        "ab--cd",
        "a--b",
        "test",
        "local",
        "onion",
        "arpa",
        "123",
        "x" * 64,
        "X" * 63,
        "co",
        "COM",
        "-a",
        "a-",
        "",
    ]
)
structured_emails = st.builds(
    lambda local, domain_labels: local + "@" + ".".join(domain_labels),
    st.from_regex(r"[a-zA-Z0-9!#$%&'*+/=?^_`{|}~.-]{0,20}", fullmatch=True)
    | st.sampled_from(["INFO", "Postmaster", "a" * 64, "a" * 65, "ü", '"q"', "a.b", ".a"]),
    st.lists(labels, min_size=1, max_size=5),
)
long_emails = st.builds(
    lambda n, m: "a" * n + "@" + "b" * m + ".com", st.integers(1, 260), st.integers(1, 260)
)
emails = st.one_of(
    st.text(alphabet=EMAIL_CHARS, max_size=30),
    st.from_regex(r"[a-zA-Z0-9._%+-]{1,20}@[a-zA-Z0-9.-]{1,30}", fullmatch=True),
    st.emails(),
    structured_emails,
    long_emails,
    st.text(max_size=40),
)
separators = st.sampled_from(
    ["", " ", "-", ".", "(", ")", "  ", "\t", "\u00a0", "/", "\u3000", "\x1c", "\x1f"]
)
structured_phones = st.builds(
    lambda plus, code, trunk, digits, seps: (
        plus
        + "".join(d + s for d, s in zip(str(code) + trunk + digits, seps + [""] * 40, strict=False))
    ),
    st.sampled_from(["+", "", "++", "00"]),
    st.sampled_from(KNOWN_CODES) | st.integers(0, 999),
    st.sampled_from(["", "0", "8", "1", "00", "9", "15"]),
    st.from_regex(r"[0-9]{0,14}", fullmatch=True),
    st.lists(separators, max_size=20),
)
phones = st.one_of(
    st.text(alphabet=PHONE_CHARS, max_size=25),
    st.from_regex(r"\+[0-9]{0,18}", fullmatch=True),
    structured_phones,
    st.text(max_size=25),
)
odd_text = st.sampled_from(
    [
        "null",
        " NULL ",
        "undefined",
        "0",
        "n/a",
        "None",
        "true",
        " FALSE ",
        "1",
        "0.0",
        "3.0",
        "3.5",
        "1e3",
        "nan",
        "-inf",
        "31/02/2024",
        "2024-01-31T10:00:00+05:30",
        "1700000000",
        "1700000000000",
        "17000000000",
        "$D_1700000000",
        "01/31/2024 10:20",
        "31.01.2024",
        "$D_",
        "٣",
        "\x00",
        "\u200b",
    ]
    + list(SYSTEM_EVENTS)
    + [name.swapcase() for name in SYSTEM_EVENTS]
    + [f"Buy{c}" for c in PROHIBITED_EVENT_CHARS]
)
huge_text = st.builds(
    lambda c, n: c * n,
    st.sampled_from(["a", "9", "+9", " ", "\x00", "é@"]),
    st.integers(1000, 120_000),
)
texts = st.one_of(
    st.text(),
    odd_text,
    emails,
    phones,
    huge_text,
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=10),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**14), max_value=10**14),
    st.floats(),
    st.decimals(),
    st.dates(),
    st.datetimes(timezones=OFFSETS),
    st.times(),
    texts,
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=4,
)
rows = st.fixed_dictionaries({}, optional=dict.fromkeys(COLUMNS, values))


def _json_default(value):
    assert isinstance(value, datetime) and value.tzinfo is UTC
    return value.isoformat()


def check_outcome(out, spec):
    assert out.ok == (not out.errors)
    seen = set()
    for error in out.errors:
        assert error.code in ERROR_CODES
        assert error.message == MESSAGES[error.code]
        assert error.field not in seen  # at most one error per source column
        seen.add(error.field)
    assert out.identity is None or isinstance(out.identity, str)
    assert out.event_name is None or isinstance(out.event_name, str)
    assert out.timestamp is None or out.timestamp.tzinfo is UTC
    json.dumps(out.payload, default=_json_default)  # plain JSON types, datetimes in UTC
    targets = {m.target for m in spec.fields}
    assert set(out.payload) <= targets


# --- never raises ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=["profile", "event", "event-format"])
@ROWS
@given(row=rows)
def test_validate_record_never_raises(spec, row):
    check_outcome(validate_record(row, spec), spec)


@ROWS
@given(values=st.lists(values, min_size=1, max_size=10))
def test_any_value_in_every_column(values):
    for value in values:
        row = dict.fromkeys(COLUMNS, value)
        for spec in SPECS:
            check_outcome(validate_record(row, spec), spec)


# --- differential: the fast paths agree with the plain path --------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=["profile", "event", "event-format"])
@ROWS
@given(batch=st.lists(rows, max_size=5))
def test_validate_batch_agrees_with_validate_record(spec, batch):
    assert validate_batch(batch, spec) == [validate_record(row, spec) for row in batch]


@ROWS
@given(mails=st.lists(emails, max_size=10), numbers=st.lists(phones, max_size=10))
def test_validate_batch_agrees_on_contact_fields(mails, numbers):
    batch = [{"id": "u", "mail": m, "phone": p} for m, p in zip(mails, numbers, strict=False)]
    assert validate_batch(batch, PROFILE) == [validate_record(row, PROFILE) for row in batch]


@MANY
@given(text=emails)
@example("INFO@Example.COM")
@example("a@xn--bcher-kva.com")
@example("a@ab--cd.com")
@example("a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57)  # 254 characters
@example("a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58)  # 255 characters
@example("x@" + ".".join(["a" * 63] * 3) + "." + "b" * 61)  # a 253-character domain
@example("\x1cabcd@example.com")
@example("abcd@example.co\x1f")
def test_email_fast_path_agrees_with_email_validator(text):
    text = text.strip(WHITE_SPACE)
    assert email_fast(text) == email_library(text)


@MANY
@given(text=phones)
@example("+44 020 7946 0958")
@example("+7 800 555 35 35")
@example("+54 9 11 1234 5678")
@example("+55 0 11 91234 5678")
@example("+54\x1c800-123-4567")
@example("+54\u3000800\t123\xa04567")
def test_phone_fast_path_agrees_with_phonenumbers(text):
    text = text.strip(WHITE_SPACE)
    if text:
        assert phone_fast(text) == phone_library(text)


def test_fast_email_path_uses_the_libraries_constants():
    assert sorted(SPECIAL_USE_DOMAINS) == sorted(email_validator.SPECIAL_USE_DOMAIN_NAMES)


def _example_numbers():
    """Every region's example numbers as written internationally, and with a trunk prefix."""
    numbers = set()
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            nsn = phonenumbers.national_significant_number(number)
            numbers.add(
                phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            )
            numbers.add(f"+{number.country_code}0{nsn}")
            numbers.add(f"+{number.country_code} ({nsn[:3]}) {nsn[3:]}")
    return sorted(numbers)


def test_phone_fast_path_agrees_on_every_region_example():
    numbers = _example_numbers()
    assert len(numbers) > 500
    disagreements = [n for n in numbers if phone_fast(n) != phone_library(n)]
    assert disagreements == []
    # written internationally, every example is a valid phone, except where the national number
    # has only 4 digits (St Helena, Niue, Tokelau): the reference wants more than 4
    for number in numbers:
        if " " in number and "(" not in number:
            national = number.split(" ", 1)[1].replace(" ", "").replace("-", "")
            assert (phone_fast(number) is not INVALID) == (len(national) > 4), number


# --- the number rules against their definition ------------------------------------------------------

numeric_texts = st.one_of(
    st.from_regex(r"[+-]?[0-9]{0,5}\.?[0-9]{0,5}([eE][+-]?[0-9]{1,4})?", fullmatch=True),
    st.text(alphabet="0123456789+-.eE_ ,xXnaifNI٣\t\u3000\x1c\x1f", max_size=12),
    st.floats().map(repr),
    st.integers().map(str),
)


@MANY
@given(text=numeric_texts)
@example("\x1c42")
@example("4.2e1\x1f")
@example("\u30001\t")
def test_number_rules_follow_their_definition(text):
    text = text.strip(WHITE_SPACE)
    if not text:
        return
    numeric = _NUMERIC_TEXT.fullmatch(text) is not None
    as_float = float(text) if numeric else None
    finite = numeric and as_float not in (float("inf"), float("-inf"))
    assert (coerce_float(text) is not INVALID) == finite
    if numeric:
        exact = Decimal(text)
        integral = exact == exact.to_integral_value() and (
            not exact or exact.adjusted() < MAX_INT_DIGITS
        )
        assert coerce_integer(text) == (int(exact) if integral else INVALID)
    else:
        assert coerce_integer(text) is INVALID


def _digits(n: int):
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


# Timestamps in the common warehouse shape, including out-of-range parts (month 13, second 60,
# offset +23:59, 30 February) and the shapes just beside it (one fraction digit, +0530, no seconds).
iso_timestamps = st.builds(
    lambda y, mo, d, sep, h, mi, s, frac, off: f"{y}-{mo}-{d}{sep}{h}:{mi}{s}{frac}{off}",
    _digits(4),
    _digits(2),
    _digits(2),
    st.sampled_from(["T", " "]),
    _digits(2),
    _digits(2),
    st.sampled_from(["", ":"]).flatmap(lambda colon: _digits(2).map(lambda s: colon + s)),
    st.sampled_from(["", "."]).flatmap(
        lambda dot: st.integers(1, 9).flatmap(_digits).map(lambda f: dot + f if dot else "")
    ),
    st.one_of(
        st.sampled_from(["", "Z", "z"]),
        st.builds(
            lambda sign, hh, mm, colon: f"{sign}{hh}{colon}{mm}",
            st.sampled_from("+-"),
            _digits(2),
            _digits(2),
            st.sampled_from(["", ":"]),
        ),
    ),
)


@MANY
@given(text=iso_timestamps)
@example("2024-01-31T09:30:00Z")
@example("2024-02-30T09:30:00Z")
@example("2024-01-31T09:30:60Z")
@example("2024-01-31T24:00:00Z")
@example("2024-01-31 09:30:00.123+05:30")
@example("2024-01-31T09:30:00.123456-23:59")
@example("2024-01-31T09:30:00+24:00")
@example("0000-01-31T09:30:00Z")
def test_iso_fast_path_agrees_with_the_general_pattern(text):
    general = _ISO.fullmatch(text)
    expected = INVALID if general is None else _build_in_order(general)
    assert parse_date_text(text) == expected
    if expected is not INVALID:
        assert parse_date_text(text).tzinfo is UTC


# --- white space: Unicode's White_Space around any value changes nothing --------------------------

white_space = st.text(alphabet=WHITE_SPACE, max_size=4)
CONTROLS = st.sampled_from("\x1c\x1d\x1e\x1f")  # Python's white space, not Unicode's


def _written(moment: datetime, style: int) -> str:
    return (
        f"{moment:%d/%m/%Y %H:%M:%S}",
        f"{moment.day}/{moment.month}/{moment.year}",
        f"{moment:%Y/%m/%d %H:%M:%S}",
        f"{moment:%Y/%m/%d}",
        f"{moment:%Y-%m-%d}",
        moment.isoformat(),
        moment.isoformat(" ") + "+05:30",
        f"{moment.day} {moment:%b %Y %H:%M:%S}",
        str(int(moment.replace(tzinfo=UTC).timestamp())),
        f"$D_{int(moment.replace(tzinfo=UTC).timestamp())}",
    )[style]


date_texts = st.builds(
    _written,
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)),
    st.integers(0, 9),
)
boolean_texts = st.sampled_from(["0", "1", "true", "false", "TRUE", "False"])
# One valid core value per column of PROFILE and EVENT: text with no white space at its ends.
VALID_CORES = {
    "id": st.from_regex(r"u[a-z0-9 -]{0,10}[a-z0-9]", fullmatch=True),
    "name": st.from_regex(r"[A-Z][a-z]{2,8}( [A-Za-z]{1,8})?", fullmatch=True),
    "mail": st.from_regex(
        r"[a-z0-9]{1,10}(\.[a-z0-9]{1,5})?@[a-z]{1,10}\.(com|co\.uk)", fullmatch=True
    ),
    "phone": st.builds(
        lambda code, sep, digits: f"+{code}{sep}{digits[:3]}{sep}{digits[3:]}",
        st.sampled_from([1, 7, 44, 49, 54, 91, 358]),
        st.sampled_from(WHITE_SPACE + "-.("),
        _digits(8),
    ),
    "gender": st.sampled_from(["M", "F", "Other"]),
    "dob": date_texts,
    "s": st.text(min_size=1).map(lambda t: t.strip(WHITE_SPACE)).filter(bool),
    "i": st.integers().map(str),
    "f": st.floats(allow_nan=False, allow_infinity=False).map(repr),
    "b": boolean_texts,
    "d": date_texts,
    "d2": st.datetimes(min_value=datetime(1000, 1, 1)).map(lambda d: f"{d:%m/%d/%Y %H:%M}"),
    "sms": boolean_texts,
    "push": boolean_texts,
    "ts": date_texts,
}
core_texts = st.text(min_size=1).map(lambda t: t.strip(WHITE_SPACE)).filter(bool)


# PROFILE without its two cross-typed copies (the identity as an Integer, the email as a Boolean).
PROFILE_OWN_RULES = MappingSpec(
    sync_type="profile", identity_column="id", fields=list(PROFILE.fields[:-2])
)


def _padded(core_row, pads):
    return {column: pads[column][0] + core + pads[column][1] for column, core in core_row.items()}


pads = st.fixed_dictionaries(dict.fromkeys(VALID_CORES, st.tuples(white_space, white_space)))


@pytest.mark.parametrize("spec", [PROFILE_OWN_RULES, EVENT], ids=["profile", "event"])
@ROWS
@given(core_row=st.fixed_dictionaries(VALID_CORES), pads=pads)
@example(core_row={c: "\x1c" for c in VALID_CORES}, pads={c: ("\t", "\u3000") for c in VALID_CORES})
def test_white_space_around_a_valid_core_changes_nothing(spec, core_row, pads):
    padded = _padded(core_row, pads)
    core = validate_record(core_row, spec)
    if "\x1c" not in core_row["id"]:
        assert core.ok, core.errors  # the cores are valid: the property is not a vacuous one
    assert validate_record(padded, spec) == core
    assert validate_batch([padded, core_row], spec) == [core, core]


@pytest.mark.parametrize("spec", SPECS, ids=["profile", "event", "event-format"])
@ROWS
@given(core_row=st.fixed_dictionaries(dict.fromkeys(VALID_CORES, core_texts)), pads=pads)
def test_white_space_around_any_text_changes_nothing(spec, core_row, pads):
    padded = _padded(core_row, pads)
    core = validate_record(core_row, spec)
    assert validate_record(padded, spec) == core
    assert validate_batch([padded], spec) == [core]


# Every column whose rule can fail on text (String and Gender cannot; the identity keeps them).
CHECKED_COLUMNS = ["b", "d", "d2", "dob", "f", "i", "mail", "phone", "push", "sms"]


@ROWS
@given(
    core_row=st.fixed_dictionaries(VALID_CORES),
    pads=pads,
    control=CONTROLS,
    column=st.sampled_from(CHECKED_COLUMNS),
    at_end=st.booleans(),
    inside=st.booleans(),
)
def test_a_control_character_at_either_end_is_kept_and_fails(
    core_row, pads, control, column, at_end, inside
):
    core = core_row[column]
    marked = (core + control if at_end else control + core) if inside else core
    before, after = pads[column]
    if not inside:
        before, after = (before, after + control) if at_end else (control + before, after)
    row = dict(core_row) | {column: before + marked + after}
    out = validate_record(row, PROFILE_OWN_RULES)
    assert [error.field for error in out.errors] == [column]
    assert validate_batch([row], PROFILE_OWN_RULES) == [out]


# --- dates: the fast path reads every format as the plain path does -------------------------------

YEARS = st.sampled_from(["0000", "0001", "1900", "1970", "2023", "2024", "2100", "9999"]) | _digits(
    4
)
MONTHS_ = st.sampled_from(["0", "00", "1", "01", "2", "02", "4", "04", "12", "13", "99"])
DAYS = st.sampled_from(["0", "00", "1", "01", "9", "28", "29", "30", "31", "32"]) | _digits(2)
HOURS = st.sampled_from(["00", "09", "9", "23", "24", "99"])
MINUTES = st.sampled_from(["00", "30", "59", "60"])
FRACTIONS = st.sampled_from(["", ".1", ".123", ".123456", ".1234567", ".123456789", ",5"])
ZONES = st.sampled_from(
    ["", "Z", "z", "+00:00", "-00:00", "+14:00", "-14:00", "+14:01", "+23:59", "+24:00"]
    + ["-12:00", "+05:30", "+0530", "+05", "+05:60", "-9:00"]
)
MONTH_NAMES = st.sampled_from(["Jan", "feb", "APR", "Sep", "Dec", "Foo", "Sept"])
DATE_SHAPES = [
    "{d}/{m}/{y} {H}:{M}:{S}",
    "{d}/{m}/{y}",
    "{y}/{m}/{d} {H}:{M}:{S}",
    "{y}/{m}/{d}",
    "{y}-{m}-{d}",
    "{y}-{m}-{d}T{H}:{M}:{S}{f}{z}",
    "{y}-{m}-{d} {H}:{M}:{S}{f}{z}",
    "{y}-{m}-{d}T{H}:{M}{z}",
    "{d} {mon} {y} {H}:{M}:{S}",
    "{d}/{m}/{y} {H}:{M}",
    "{y}{m}{d}",
    "$D_{y}{d}",
]
date_texts_of_every_shape = st.builds(
    lambda shape, **parts: shape.format(**parts),
    st.sampled_from(DATE_SHAPES),
    y=YEARS,
    m=MONTHS_,
    d=DAYS,
    H=HOURS,
    M=MINUTES,
    S=MINUTES,
    f=FRACTIONS,
    z=ZONES,
    mon=MONTH_NAMES,
) | st.from_regex(r"[0-9]{1,14}", fullmatch=True)
EXPLICIT_FORMATS = [
    ("MM/dd/yyyy", "{m}/{d}/{y}"),
    ("MM/dd/yyyy HH:mm", "{m}/{d}/{y} {H}:{M}"),
    ("yyyyMMdd", "{y}{m}{d}"),
    ("dd.MM.yyyy H:mm:ss", "{d}.{m}.{y} {H}:{M}:{S}"),
    ("dd MMM yyyy", "{d} {mon} {y}"),
    ("yyyy-MM-dd'T'HH:mm:ssXXX", "{y}-{m}-{d}T{H}:{M}:{S}{z}"),
    ("yyyy-MM-dd HH:mm:ss.SSS", "{y}-{m}-{d} {H}:{M}:{S}{f}"),
    ("yyyy-MM-dd mm", "{y}-{m}-{d} {M}"),
    ("d/M/yyyy ss", "{d}/{m}/{y} {S}"),
]


def _same_date(fast, plain):
    assert fast == plain
    if plain is not INVALID:
        assert fast.tzinfo is UTC and plain.tzinfo is UTC


@MANY
@given(text=date_texts_of_every_shape)
@example("29/02/2024")
@example("29/02/2023")
@example("31/04/2024 10:00:00")
@example("2024-01-31 24:00:00")
@example("2024-01-31T23:59:60Z")
@example("2024-01-31T10:00:00+14:00")
@example("2024-01-31T10:00:00-14:00")
@example("9999-12-31T23:00:00-05:00")  # past year 9999 in UTC
@example("0001-01-01T00:00:00+05:00")  # before year 1 in UTC
@example("1/2/2024")
@example("15 SEP 2024 10:20:30")
def test_date_fast_path_agrees_with_the_plain_path(text):
    _same_date(parse_date_text(text), parse_date_plain(text))


@MANY
@given(
    fmt=st.sampled_from(EXPLICIT_FORMATS),
    text=date_texts_of_every_shape,
    parts=st.fixed_dictionaries(
        {"y": YEARS, "m": MONTHS_, "d": DAYS, "H": HOURS, "M": MINUTES, "S": MINUTES}
        | {"f": FRACTIONS, "z": ZONES, "mon": MONTH_NAMES}
    ),
    written=st.booleans(),
)
def test_explicit_format_fast_path_agrees_with_the_plain_path(fmt, text, parts, written):
    pattern = compile_date_format(fmt[0])
    if written:
        text = fmt[1].format(**parts)
    _same_date(parse_date_text(text, pattern), parse_date_plain(text, pattern))


DATE_SPEC = MappingSpec(
    sync_type="event",
    identity_column="id",
    event_name_column="name",
    timestamp_column="ts",
    fields=[FieldMapping("d", "d", "Date"), FieldMapping("d2", "d2", "Date", "MM/dd/yyyy HH:mm")],
)


@ROWS
@given(
    texts=st.lists(
        st.tuples(white_space, date_texts_of_every_shape, white_space).map("".join), max_size=40
    ),
    repeats=st.integers(1, 3),
)
def test_batches_of_dates_agree_with_the_plain_path(texts, repeats):
    """Repeated values (read once per batch on the fast path) and surrounding white space."""
    batch = [{"id": "u", "name": "B", "ts": t, "d": t, "d2": t} for t in texts] * repeats
    assert validate_batch(batch, DATE_SPEC) == [validate_record(row, DATE_SPEC) for row in batch]


def test_date_memo_is_bounded_and_steps_aside_for_distinct_texts(monkeypatch):
    monkeypatch.setattr(engine, "_DATE_MEMO_MAX", 8)
    calls = []
    coerce = engine._memoised_dates(lambda value: calls.append(value) or value)
    for text in ["a", "b"] * 8:  # repeats: parsed once each
        assert coerce(text) == text
    assert calls == ["a", "b"]
    distinct = [str(n) for n in range(30)]
    for text in distinct:
        assert coerce(text) == text
    assert calls[2:] == distinct  # each parsed once; the memo filled at 8, then started afresh
    calls.clear()
    for text in distinct[:10]:  # the fresh memo saw only misses: it stepped aside
        coerce(text)
    assert len(calls) == 10


def _by_definition(value):
    """The Date rule for a date or datetime object as written before its fast path: a naive
    datetime taken as UTC, an aware one converted, a date at midnight UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except (ValueError, OverflowError):
            return INVALID
    return datetime(value.year, value.month, value.day, 0, 0, 0, 0, UTC)


class _Stamp(datetime):
    """A driver's datetime subclass (such as pandas.Timestamp) keeps the general path."""


typed_dates = st.one_of(
    st.datetimes(),
    st.datetimes().map(lambda d: d.replace(fold=1)),
    st.datetimes(timezones=OFFSETS),
    st.dates(),
    st.datetimes().map(lambda d: _Stamp.combine(d, d.time())),
)


@MANY
@given(value=typed_dates)
@example(datetime.min)
@example(datetime.max)
@example(datetime(2024, 2, 29, 23, 59, 59, 999999))
def test_date_and_datetime_objects_follow_the_definition(value):
    """A typed warehouse's DATE and TIMESTAMP values, on the Date rule and as a timestamp: the
    same value (class, fold and all) as replace(tzinfo=UTC) or datetime(y, m, d, ..., UTC)."""
    expected = _by_definition(value)
    row = {"id": "u", "name": "B", "ts": value, "d": value, "d2": value}
    for out in [*validate_batch([row, row], DATE_SPEC), validate_record(row, DATE_SPEC)]:
        if expected is INVALID:
            assert [e.code for e in out.errors] == [
                "invalid_timestamp",
                "invalid_date",
                "invalid_date",
            ]
            continue
        assert out.ok
        for got in (out.timestamp, out.payload["d"], out.payload["d2"]):
            assert got == expected and type(got) is type(expected)
            assert (got.fold, got.tzinfo, got.isoformat()) == (
                expected.fold,
                expected.tzinfo,
                expected.isoformat(),
            )
