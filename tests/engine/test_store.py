"""Store writes round-trip awkward text: COPY text format escapes (PostgreSQL), bulk inserts
(SQLite). Profiles of one batch with the same identity merge, later rows winning."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from imports import pipeline, store
from imports.models import Event, Profile, RecordResult
from tests import factories
from tests.engine.conftest import make_profile_import

AWKWARD = ["tab\there", "new\nline", "cr\rhere", "back\\slash", 'quote"d', "ünïcødé", "\\N"]


@pytest.mark.django_db
# The naive timestamp is on purpose (read as UTC); Django warns about it on SQLite.
@pytest.mark.filterwarnings("ignore:DateTimeField Event.occurred_at received a naive datetime")
def test_records_events_and_profiles_round_trip_awkward_text(wh_datasource):
    run = factories.make_run(make_profile_import(wh_datasource), state="running")
    errors = json.dumps([{"field": "a\tb", "code": "x", "message": 'says "no" \\ here'}])
    rows = [(n, n % 2 == 0, text, text, errors, f"|{text}:x|") for n, text in enumerate(AWKWARD, 1)]
    store.write_records(run.pk, rows)
    got = {r.row_number: r for r in RecordResult.objects.filter(run=run)}
    for n, ok, text, _, _, keys in rows:
        assert (got[n].success, got[n].identity, got[n].event_name) == (ok, text, text)
        assert got[n].error_keys == keys
        assert got[n].errors == json.loads(errors)

    code = uuid.uuid4()
    stamps = [
        datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(2024, 2, 3, 4, 5, 6, 789, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2024, 2, 3, 4, 5, 6),  # naive: read as UTC
    ]
    at = {n: stamps[n % len(stamps)] for n in range(1, len(AWKWARD) + 1)}
    props = {"k\\": 'v\n\t"', "n": 1.5}
    store.write_events(code, "identity", [(n, t, t, at[n], store.dumps(props)) for n, t in
                                          enumerate(AWKWARD, 1)])  # fmt: skip
    events = {e.row_number: e for e in Event.objects.filter(run_code=code)}
    for n, text in enumerate(AWKWARD, 1):
        assert (events[n].identity, events[n].event_name) == (text, text)
        expected = at[n] if at[n].tzinfo else at[n].replace(tzinfo=UTC)
        assert (events[n].occurred_at, events[n].properties) == (expected, props)

    store.upsert_profiles("identity", [(t, {"a": 1, "t": t}) for t in AWKWARD])
    store.upsert_profiles("identity", [(AWKWARD[0], {"b": 2}), (AWKWARD[0], {"a": 3})])
    assert Profile.objects.get(identity=AWKWARD[0]).properties == {"a": 3, "b": 2, "t": AWKWARD[0]}
    assert {p.identity: p.properties["t"] for p in Profile.objects.all()} == {t: t for t in AWKWARD}


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
    store.write_records(
        run.pk, [(1, True, long_identity, "", "[]", ""), (2, True, "b", "", "[]", "")]
    )
    found = RecordResult.objects.filter(run=run).with_identity(long_identity)
    assert [r.row_number for r in found] == [1]
    assert not RecordResult.objects.filter(run=run).with_identity("𝔘" * 1099).exists()


@pytest.mark.django_db
def test_a_nul_inside_a_property_is_dropped_not_fatal_to_the_batch(wh_datasource):
    code = uuid.uuid4()
    at = datetime(2024, 2, 3, tzinfo=UTC)
    props = store.dumps({"note": "before\x00after"})
    store.write_events(code, "identity", [(1, "u1", "Charged", at, props)])
    store.upsert_profiles("identity", [("u1", {"note": "x\x00y"})])
    assert Event.objects.get(run_code=code).properties == {"note": "beforeafter"}
    assert Profile.objects.get(identity="u1").properties == {"note": "xy"}


@pytest.mark.django_db
def test_profiles_upsert_identities_longer_than_a_btree_entry(wh_datasource):
    import random

    rng = random.Random(7)
    # 1,024 random 4-byte characters: 4 KB that no compression shrinks below a btree entry.
    long_identity = "".join(chr(rng.randrange(0x10000, 0x10FFFF)) for _ in range(1024))
    long_identity = long_identity.replace("\x00", "")
    store.upsert_profiles("identity", [(long_identity, {"a": 1}), ("short", {"a": 1})])
    store.upsert_profiles("identity", [(long_identity, {"b": 2})])
    assert Profile.objects.get(identity=long_identity).properties == {"a": 1, "b": 2}
    assert Profile.objects.count() == 2
