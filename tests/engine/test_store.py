"""Store writes keep text exactly: PostgreSQL's COPY (text format built by `imports.store`) and
SQLite's bulk inserts alike. NUL, which PostgreSQL text cannot hold, is dropped on every database.
Profiles of one batch with the same identity merge, later rows winning."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from hashlib import blake2b

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imports import failed_values, pipeline, store
from imports.models import Event, Profile, RecordResult
from tests import factories
from tests.engine.conftest import make_profile_import

_rng = random.Random(7)
# Labelled so a failure names the value. 1,024 random 4-byte characters make 4 KB of UTF-8 that
# no compression shrinks below a btree entry (the identity indexes hash it).
ODD_TEXTS = {
    "tab": "tab\there",
    "newline": "new\nline",
    "carriage return": "cr\rhere",
    "backslash": "back\\slash",
    "trailing backslash": "ends\\",
    "COPY null marker": "\\N",
    "COPY end marker": "\\.",
    "double quote": 'quote"d',
    "single quote": "it's",
    "comma": "a,b",
    "no-break space": "no\u00a0break\u00a0",
    "line separator": "line\u2028sep",
    "unicode": "ünïcødé 𝔘",
    "formula": "=1+1",
    "1,024 ASCII characters": "x" * 1024,
    "1,024 4-byte characters": "".join(chr(_rng.randrange(0x10000, 0x10FFFF)) for _ in range(1024)),
}
# NUL cannot be stored in PostgreSQL text: it is dropped, on SQLite too.
WITH_NUL = {"NUL": ("nul\x00here\x00", "nulhere")}


def write_records(run_id: int, rows: list[tuple]) -> None:
    """rows: (row_number, success, identity, event_name, errors_json, error_keys[,
    source_row]); the source row defaults to None."""
    columns = list(map(list, zip(*[r[:6] for r in rows], strict=True)))
    kept = {k: r[6] for k, r in enumerate(rows) if len(r) > 6 and r[6] is not None}
    store.record_columns_writer(run_id, *columns, kept)()


def write_events(run_code, rows: list[tuple], import_id: int = 1) -> list[int]:
    """rows: (row_number, identity, event_name, occurred_at, properties_json[, event_key]);
    the key defaults to one of the row number. Returns the row numbers refused."""
    rows = [(*r, f"{r[0]:032x}") if len(r) == 5 else r for r in rows]
    columns = list(map(list, zip(*rows, strict=True)))
    return store.event_columns_writer(run_code, import_id, "identity", *columns)()


def upsert_profiles(profiles: list[tuple[str, dict]]) -> int:
    write, touched = store.profiles_writer("identity", profiles)
    write()
    return touched


def expected_texts() -> dict[str, tuple[str, str]]:
    """label: (text written, text kept)."""
    return {label: (text, text) for label, text in ODD_TEXTS.items()} | WITH_NUL


@pytest.mark.django_db
def test_records_keep_odd_text_exactly(wh_datasource):
    run = factories.make_run(make_profile_import(wh_datasource), state="running")
    cases = list(expected_texts().items())
    rows = []
    for n, (_label, (text, _)) in enumerate(cases, 1):
        errors = store.dumps([{"field": text, "code": "x", "message": f"says {text}"}])
        rows.append((n, n % 2 == 0, text, text, errors, f"|{text}:x|"))
    write_records(run.pk, rows)

    got = {r.row_number: r for r in RecordResult.objects.filter(run=run)}
    for n, (label, (_, kept)) in enumerate(cases, 1):
        record = got[n]
        assert (record.identity, record.event_name, record.error_keys) == (
            kept,
            kept,
            f"|{kept}:x|",
        ), label
        assert record.errors == [{"field": kept, "code": "x", "message": f"says {kept}"}], label
        assert record.success is (n % 2 == 0)


@pytest.mark.django_db
def test_source_rows_keep_odd_text_and_nul_through_the_copy(wh_datasource):
    run = factories.make_run(make_profile_import(wh_datasource), state="running")
    odd = dict(ODD_TEXTS, NUL="nul\x00here", nan=float("nan"), big=2**70, none=None)
    rows = [
        (1, False, "a", "", "[]", "", failed_values.encode_row(odd, tuple(odd))),
        (2, True, "b", "", "[]", "", None),
    ]
    write_records(run.pk, rows)

    kept = {r.row_number: r.source_row for r in RecordResult.objects.filter(run=run)}
    assert kept[2] is None
    back = failed_values.decode_row(kept[1])
    assert math.isnan(back.pop("nan"))  # NaN stays NaN, not JSON's null
    assert back == {k: v for k, v in odd.items() if k != "nan"}


@pytest.mark.django_db
# The naive timestamp is on purpose (read as UTC); Django warns about it on SQLite.
@pytest.mark.filterwarnings("ignore:DateTimeField Event.occurred_at received a naive datetime")
def test_events_keep_odd_text_and_every_kind_of_timestamp(wh_datasource):
    code = uuid.uuid4()
    stamps = [
        datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(2024, 2, 3, 4, 5, 6, 789, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2024, 2, 3, 4, 5, 6),  # naive: read as UTC
    ]
    cases = list(expected_texts().items())
    at = {n: stamps[n % len(stamps)] for n in range(1, len(cases) + 1)}
    rows = [
        (n, text, text, at[n], store.dumps({text: text, "n": 1.5}))
        for n, (_label, (text, _)) in enumerate(cases, 1)
    ]
    write_events(code, rows)

    events = {e.row_number: e for e in Event.objects.filter(run_code=code)}
    for n, (label, (_, kept)) in enumerate(cases, 1):
        event = events[n]
        assert (event.identity, event.event_name) == (kept, kept), label
        assert event.properties == {kept: kept, "n": 1.5}, label
        expected = at[n] if at[n].tzinfo else at[n].replace(tzinfo=UTC)
        assert event.occurred_at == expected
        assert event.identity_kind == "identity"


@pytest.mark.django_db
def test_profiles_keep_odd_text_and_merge_later_rows_winning(wh_datasource):
    # Valid identities hold no NUL (validation refuses them); a property's NUL is dropped.
    texts = list(ODD_TEXTS.values())
    assert upsert_profiles([(t, {"a": 1, "t": t, t: "\x00" + t}) for t in texts]) == len(texts)
    assert upsert_profiles([(texts[0], {"b": 2}), (texts[0], {"a": 3}), (texts[0], {"b": 4})]) == 1

    got = {p.identity: p.properties for p in Profile.objects.all()}
    assert set(got) == set(texts)
    for label, text in ODD_TEXTS.items():
        assert got[text]["t"] == text and got[text][text] == text, label
    assert got[texts[0]] == {"a": 3, "b": 4, "t": texts[0], texts[0]: texts[0]}


@pytest.mark.django_db
def test_the_store_refuses_an_event_key_its_import_holds_and_names_the_rows():
    at = datetime(2024, 1, 1, tzinfo=UTC)
    first, second = uuid.uuid4(), uuid.uuid4()
    key_a, key_b = "a" * 32, "b" * 32
    assert write_events(first, [(1, "u1", "Charged", at, "{}", key_a)]) == []
    again = [(1, "u1", "Charged", at, "{}", key_a), (2, "u2", "Charged", at, "{}", key_b)]
    again.append((3, "u2", "Charged", at, "{}", key_b))  # a repeat within the batch
    assert write_events(second, again) == [1, 3]
    assert write_events(uuid.uuid4(), again, import_id=2) == [3]  # keys are per import
    assert Event.objects.filter(import_id=1).count() == 2
    assert Event.objects.get(run_code=second).event_key.hex == key_b


def test_a_batch_with_nothing_to_write_writes_nothing():
    # No database access at all: pytest-django refuses it outside a django_db test.
    store.record_columns_writer(1, [], [], [], [], [], [], {})()
    assert store.event_columns_writer(uuid.uuid4(), 1, "identity", [], [], [], [], [], [])() == []
    write, touched = store.profiles_writer("identity", [])
    write()
    assert touched == 0


@pytest.mark.django_db(transaction=True)
def test_writer_thread_writes_in_order_and_hands_back_the_first_error():
    done: list[int] = []

    def write(n):
        if n == 2:
            raise pipeline.RunNotActive(n)
        done.append(n)

    with pipeline._writer() as submit:
        assert submit is not pipeline._call  # a real thread outside atomic blocks
        for n in (0, 1):
            submit(write, n)
    assert done == [0, 1]
    with pytest.raises(pipeline.RunNotActive):
        with pipeline._writer() as submit:
            for n in range(2, 6):
                submit(write, n)
    assert done == [0, 1]  # nothing after the failed batch was written


@pytest.mark.django_db
def test_writer_inside_a_transaction_writes_in_line():
    with pipeline._writer() as submit:
        assert submit is pipeline._call


@pytest.mark.django_db
def test_identity_search_finds_identities_longer_than_a_btree_entry(wh_datasource):
    run = factories.make_run(make_profile_import(wh_datasource), state="running")
    long_identity = "𝔘" * 1100  # 4,400 bytes of UTF-8: more than a btree entry may hold
    write_records(run.pk, [(1, True, long_identity, "", "[]", ""), (2, True, "b", "", "[]", "")])
    found = RecordResult.objects.filter(run=run).with_identity(long_identity)
    assert [r.row_number for r in found] == [1]
    assert not RecordResult.objects.filter(run=run).with_identity("𝔘" * 1099).exists()


def test_default_event_keys_are_the_same_for_the_same_event_and_lead_with_its_time():
    from validation.engine import RecordOutcome

    at = datetime(2024, 1, 1, tzinfo=UTC)

    def key(props: str, when=at) -> str:
        outcome = RecordOutcome("u1", "Charged", [], {}, when)
        return pipeline.default_keys("identity", ["u1"], ["Charged"], [outcome], [props])[0]

    assert key('{"a":1}') == key('{"a":1}')
    assert key('{"a":1}') != key('{"a":2}')
    assert key('{"a":1}')[:8] == f"{int(at.timestamp()):08x}" and len(key("{}")) == 32
    assert key("{}", None)[:8] == "00000000" != key("{}")[:8]


def _key_by_definition(kind: str, identity: str, name: str, when, props: str) -> str:
    """An event key as `pipeline.default_keys` defines it, made one value at a time as the
    first release made keys: keys already in the store were made so, and a re-run must make
    the same ones or it imports its events twice."""
    stamp = f"{int(when.timestamp()) & 0xFFFFFFFF if when else 0:08x}"
    text = f"{kind}\x1f{identity}\x1f{name}\x1f{when.isoformat() if when else ''}\x1f{props}"
    return stamp + blake2b(text.encode(), digest_size=12).hexdigest()


_stamps = st.one_of(
    st.none(),
    st.datetimes(timezones=st.just(UTC)),  # what validation gives
    st.datetimes(timezones=st.timezones()),  # and anything else, kept exact all the same
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(max_size=30), st.text(max_size=20), _stamps, st.text(max_size=40)),
        max_size=12,
    )
)
def test_default_event_keys_of_a_batch_are_those_of_the_definition(events):
    from validation.engine import RecordOutcome

    identities = [i for i, _, _, _ in events]
    names = [n for _, n, _, _ in events]
    props = [p for _, _, _, p in events]
    outcomes = [RecordOutcome(i, n, [], {}, t) for i, n, t, _ in events]
    keys = pipeline.default_keys("identity", identities, names, outcomes, props)
    assert keys == [_key_by_definition("identity", *event) for event in events]


def test_default_event_keys_at_the_ends_of_the_calendar():
    from validation.engine import RecordOutcome

    stamps = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    ]
    outcomes = [RecordOutcome("u", "e", [], {}, t) for t in stamps]
    keys = pipeline.default_keys("identity", ["u"] * 4, ["e"] * 4, outcomes, ["{}"] * 4)
    assert keys == [_key_by_definition("identity", "u", "e", t, "{}") for t in stamps]
