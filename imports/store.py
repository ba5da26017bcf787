"""Destination writes of a run batch: profiles upserted by identity (properties merged), events
appended once per event key, RecordResults (one per source row of a profile run; of an event run,
its failed and already-imported rows and each batch's first row), and the per-run error summary.

These functions only write; the caller (`imports.pipeline`) wraps one batch in one transaction
together with its idempotency check and the run's counters, so a batch lands whole or not at
all. The `*_writer` functions split a write in two halves: the Python half (building the COPY
text) runs when they are called, and the function they return does the database half, so the
engine builds the next batch's buffers while its writer thread waits on the database for this
one. PostgreSQL gets `COPY` for the append-only tables, and for profiles a COPY into a temp table
merged by one `INSERT … SELECT … ON CONFLICT`; SQLite gets bulk inserts and `json_patch` merges.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import orjson
import psycopg
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from imports.models import Event, Profile, RecordResult, RunErrorCount

_RECORDS = RecordResult._meta.db_table
_EVENTS = Event._meta.db_table
# Literal in the upsert statements below; asserted here so a rename cannot go unnoticed.
assert Profile._meta.db_table == "imports_profile"  # noqa: S101
assert _EVENTS == "imports_event"  # noqa: S101
assert RunErrorCount._meta.db_table == "imports_runerrorcount"  # noqa: S101


# `invalid input syntax for type integer: "…"`: a first line that ends with the value.
_QUOTED_VALUE = re.compile(r':\s*".*', re.S)


@contextmanager
def row_data_withheld() -> Iterator[None]:
    """Re-raise a database error of the block without the record data in its text.

    PostgreSQL's error for a COPY or an upsert quotes the offending row in its DETAIL and
    CONTEXT lines (`COPY imports_event, line 3, column properties: "{…}"`, `Key (…)=(…)`), and
    some first lines end with the value. Record data must reach neither the logs nor the run's
    error detail, so the error is raised again as a copy of its class (the engine tells an outage
    by it) that keeps the first line without a quoted value, and the SQLSTATE."""
    try:
        yield
    except (DatabaseError, psycopg.Error) as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, psycopg.Error) else exc
        first = _QUOTED_VALUE.sub("", str(exc).split("\n", 1)[0])
        sqlstate = getattr(cause, "sqlstate", None)
        note = f" (SQLSTATE {sqlstate}; the row's values are withheld)" if sqlstate else ""
        raise type(exc)(first + note).with_traceback(exc.__traceback__) from None


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


_encoder = json.JSONEncoder(default=_json_default, ensure_ascii=False, separators=(",", ":"))
_sorted_encoder = json.JSONEncoder(
    default=_json_default, ensure_ascii=False, separators=(",", ":"), sort_keys=True
)
_orjson_dumps = orjson.dumps


def _encode(value: Any, sort_keys: bool = False) -> str:
    try:
        option = orjson.OPT_SORT_KEYS if sort_keys else None
        return _orjson_dumps(value, default=_json_default, option=option).decode()
    except orjson.JSONEncodeError:
        return (_sorted_encoder if sort_keys else _encoder).encode(value)


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(v) for v in value]
    return value


def dumps_each(values: list[Any], *, sort_keys: bool = False) -> list[str]:
    """`dumps` of every value: the usual case (nothing orjson refuses, no NUL) in one list
    comprehension and one scan. `sort_keys` gives each value one canonical text (event keys
    hash it; jsonb keeps no key order anyway)."""
    option = orjson.OPT_SORT_KEYS if sort_keys else None
    try:
        texts = [_orjson_dumps(v, default=_json_default, option=option).decode() for v in values]
    except orjson.JSONEncodeError:
        return [dumps(v, sort_keys=sort_keys) for v in values]
    if "\\u0000" in "".join(texts):
        return [dumps(v, sort_keys=sort_keys) for v in values]
    return texts


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """Compact JSON text of a payload or error list. orjson writes it 8x quicker than the
    standard encoder (a third of a run's Python time went here); integers beyond 64 bits, which
    orjson refuses, take the standard encoder.

    NUL characters are dropped, as from every text the store keeps: jsonb refuses `\\u0000`,
    and one such value would otherwise fail its whole batch. (The check can also match an
    escaped backslash before "u0000"; that costs a second encoding and changes nothing.)"""
    text = _encode(value, sort_keys)
    if "\\u0000" in text:
        return _encode(_without_nul(value), sort_keys)
    return text


def _nul_free(texts: list[str]) -> list[str]:
    """A column of texts without NUL characters. PostgreSQL text cannot hold them, so they are
    dropped on every database and both keep the same text. One scan of the whole column: source
    values almost never hold one."""
    if "\x00" not in "".join(texts):
        return texts
    return [t.replace("\x00", "") for t in texts]


# --- COPY text built here, not by psycopg's `copy.write_row` ---------------------------------
# write_row is a Python call per row, made on the engine's writer thread, where it contends for
# the GIL with the validation of the next batch. Measured on 1M-event runs in one process, ten
# interleaved pairs (issue 14): write_row cost 1.2 us more worker CPU per row (+15%; 0.3 to 1.9
# in every pair), about 5% of a row's CPU with PostgreSQL's. The format is small: a field's
# backslash, tab, newline and carriage return are escaped (NUL is gone by then).
# tests/engine/test_store.py table-tests odd text through it.
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _copy_escape_one(match: re.Match) -> str:
    return _COPY_ESCAPES[match.group()]


def copy_text(value: str) -> str:
    """`value` as one field of COPY text format."""
    return _COPY_SPECIAL.sub(_copy_escape_one, value)


def _copy_column(values: list[str]) -> list[str]:
    """A column of text fields escaped for COPY. One scan of the whole column first: warehouse
    identities and names almost never need escaping, so the per-value work is usually none."""
    if _COPY_SPECIAL.search("".join(values)) is None:
        return values
    return [copy_text(v) for v in values]


def _copy_json(text: str) -> str:
    # Encoded JSON has no raw control characters, only backslash escapes to double.
    return text.replace("\\", "\\\\") if "\\" in text else text


def _copy_json_column(texts: list[str]) -> list[str]:
    """A column of JSON texts escaped for COPY, with one scan when none has a backslash."""
    if "\\" not in "".join(texts):
        return texts
    return [_copy_json(t) for t in texts]


def _copy(sql: str, buffer: str) -> None:
    with connection.cursor() as cur:
        with connection.wrap_database_errors, cur.cursor.copy(sql) as copy:
            copy.write(buffer)


def copy_timestamps(values: list[datetime]) -> list[str]:
    """A column of datetimes in ISO 8601, as `isoformat()` writes them (naive values are read in
    the session time zone, UTC under Django, as psycopg did). orjson formats the whole column in
    one C call, 8x quicker than a method call per value; the strings hold no quote to split on."""
    return _orjson_dumps(values).decode()[2:-2].split('","') if values else []


_RECORDS_COPY = (
    f"COPY {_RECORDS} (run_id, row_number, success, identity, event_name, errors, error_keys, "
    "source_row) FROM STDIN"
)
_RECORDS_IMPORTED_COPY = _RECORDS_COPY.replace("source_row)", "source_row, already_imported)")
_EVENT_COLUMNS = (
    "identity_kind, run_code, import_id, identity, event_name, occurred_at, properties, "
    "row_number, event_key"
)
_EVENTS_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS ic_event_batch (identity_kind text, run_code uuid, "
    "import_id bigint, identity text, event_name text, occurred_at timestamptz, "
    "properties jsonb, row_number bigint, event_key uuid) ON COMMIT DELETE ROWS"
)
_EVENTS_STAGE_COPY = f"COPY ic_event_batch ({_EVENT_COLUMNS}) FROM STDIN"
_EVENTS_COPY = f"COPY {_EVENTS} ({_EVENT_COLUMNS}) FROM STDIN"
# ORDER BY event_key: two workers inserting batches that share keys take the key index's locks
# in the same order (no deadlock); of rows repeating a key, the first is kept. RETURNING names
# the rows written, so those refused are known without reading the batch again.
_EVENTS_INSERT = (
    "INSERT INTO imports_event (identity_kind, run_code, import_id, identity, event_name, "
    "occurred_at, properties, row_number, event_key) SELECT identity_kind, run_code, import_id, "
    "identity, event_name, occurred_at, properties, row_number, event_key FROM ic_event_batch "
    "ORDER BY event_key, row_number "
    "ON CONFLICT (import_id, event_key) DO NOTHING RETURNING row_number"
)


def _nothing() -> None:
    pass


def _none_refused() -> list[int]:
    return []


def record_columns_writer(
    run_id: int,
    numbers: Sequence[int],
    successes: Sequence[bool],
    identities: list[str],
    names: list[str],
    errors: list[str],
    keys: list[str],
    source_rows: dict[int, str],
    *,
    already_imported: bool = False,
) -> Callable[[], None]:
    """Prepare the RecordResults of a batch given column by column (the engine builds it that
    way: one list comprehension per column is quicker than a tuple per row); errors are JSON
    texts (`dumps`); `source_rows` maps a position in the batch to the JSON text of the source
    row its record keeps (`imports.failed_values`: failed records only). The function
    returned does the database part: on PostgreSQL one COPY of a text buffer built here.
    `already_imported` marks every record of the call as an event imported before."""
    if not numbers:
        return _nothing
    identities, names, keys = _nul_free(identities), _nul_free(names), _nul_free(keys)
    if connection.vendor == "postgresql":
        identities, names, keys = _copy_column(identities), _copy_column(names), _copy_column(keys)
        errors = _copy_json_column(errors)
        # COPY's NULL marker, or JSON text (its NULs are `\u0000` escapes); only the failed
        # records' positions are visited.
        sources = [r"\N"] * len(numbers)
        for k, text in source_rows.items():
            sources[k] = _copy_json(text)
        head = f"{int(run_id)}\t"
        tail = "\tt" if already_imported else ""
        buffer = "".join(
            [
                f"{head}{n}\t{'t' if ok else 'f'}\t{i}\t{name}\t{e}\t{k}\t{s}{tail}\n"
                for n, ok, i, name, e, k, s in zip(
                    numbers, successes, identities, names, errors, keys, sources, strict=True
                )
            ]
        )
        return partial(_copy, _RECORDS_IMPORTED_COPY if already_imported else _RECORDS_COPY, buffer)
    objects = [
        RecordResult(
            run_id=run_id,
            row_number=n,
            success=ok,
            identity=identity,
            event_name=event_name,
            errors=json.loads(errors_json),
            error_keys=error_keys,
            source_row=source_row,
            already_imported=already_imported,
        )
        for n, ok, identity, event_name, errors_json, error_keys, source_row in zip(
            numbers,
            successes,
            identities,
            names,
            errors,
            keys,
            [source_rows.get(k) for k in range(len(numbers))],
            strict=True,
        )
    ]
    return partial(RecordResult.objects.bulk_create, objects, batch_size=500)


def event_columns_writer(
    run_code,
    import_id: int,
    identity_kind: str,
    numbers: Sequence[int],
    identities: list[str],
    names: list[str],
    stamps: list[datetime],
    properties: list[str],
    keys: list[str],
    staged: bool = False,
) -> Callable[[], list[int]]:
    """Prepare the events of a batch given column by column; properties are JSON texts
    (`dumps_each`), keys the events' event keys (32 hexadecimal digits: a uuid's text). The function returned does the
    database part and returns the row numbers the store refused: their key was already in the
    import (an earlier run, or an earlier row of this batch). `staged`: go straight to the
    staging path (`_insert_events_pg`), as when the run has already met a repeated key."""
    if not numbers:
        return _none_refused
    identities, names = _nul_free(identities), _nul_free(names)
    if connection.vendor == "postgresql":
        identities, names = _copy_column(identities), _copy_column(names)
        # Keys are 32 hexadecimal digits and row numbers integers: nothing to escape.
        head = f"{copy_text(identity_kind)}\t{copy_text(str(run_code))}\t{import_id}\t"
        buffer = "".join(
            [
                f"{head}{i}\t{name}\t{at}\t{props}\t{n}\t{key}\n"
                for n, i, name, at, props, key in zip(
                    numbers,
                    identities,
                    names,
                    copy_timestamps(stamps),
                    _copy_json_column(properties),
                    keys,
                    strict=True,
                )
            ]
        )
        return partial(_insert_events_pg, buffer, numbers, staged)
    objects = [
        Event(
            identity_kind=identity_kind,
            identity=identity,
            event_name=name,
            occurred_at=at,
            properties=json.loads(props),
            run_code=run_code,
            row_number=n,
            import_id=import_id,
            event_key=key,
        )
        for n, identity, name, at, props, key in zip(
            numbers, identities, names, stamps, properties, keys, strict=True
        )
    ]
    return partial(_insert_events_sqlite, objects, run_code, numbers)


def _insert_events_pg(buffer: str, numbers: Sequence[int], staged: bool) -> list[int]:
    """COPY the batch straight into the events, under a savepoint; when a key is refused (the
    unique constraint fails the COPY), COPY it into a per-transaction temp table instead and
    insert it from there with ON CONFLICT DO NOTHING: a key the import holds is refused, not an
    error. The straight COPY is the common case (new events) and costs the key's index only;
    staging every batch cost PostgreSQL ~70% more CPU per event (`bench/import_e2e.py`)."""
    if not staged:
        try:
            with transaction.atomic():
                _copy(_EVENTS_COPY, buffer)
            return []
        except IntegrityError:
            pass  # a key already imported, or repeated within the batch
    with connection.cursor() as cur:
        cur.execute(_EVENTS_STAGE)
        _copy(_EVENTS_STAGE_COPY, buffer)
        cur.execute(_EVENTS_INSERT)
        if cur.rowcount == len(numbers):
            return []
        written = {n for (n,) in cur.fetchall()}
    return [n for n in numbers if n not in written]


def _insert_events_sqlite(objects: list[Event], run_code, numbers: Sequence[int]) -> list[int]:
    Event.objects.bulk_create(objects, batch_size=500, ignore_conflicts=True)
    written = set(
        Event.objects.filter(run_code=run_code, row_number__in=list(numbers)).values_list(
            "row_number", flat=True
        )
    )
    return [n for n in numbers if n not in written]


def profiles_writer(
    identity_kind: str, profiles: Iterable[tuple[str, dict]]
) -> tuple[Callable[[], None], int]:
    """Prepare the upsert of a batch's profiles on this thread: the function that does the
    database part, and the number of distinct profiles. Later rows of the batch win per
    property, as they would had they been written one by one. Identities are written in sorted
    order so two workers upserting overlapping batches take row locks in the same order (no
    deadlock)."""
    merged: dict[str, dict] = {}
    for identity, props in profiles:
        merged.setdefault(identity, {}).update(props)
    if not merged:
        return _nothing, 0
    identities = sorted(merged)  # valid identities hold no NUL: validation refuses them
    now = timezone.now()
    if connection.vendor == "postgresql":
        buffer = "".join(
            [
                f"{i}\t{_copy_json(dumps(merged[raw]))}\n"
                for raw, i in zip(identities, _copy_column(identities), strict=True)
            ]
        )
        return partial(_upsert_profiles_pg, identity_kind, buffer, now), len(identities)
    rows = [(identity_kind, i, dumps(merged[i]), now, now) for i in identities]
    return partial(_upsert_profiles_sqlite, rows), len(identities)


def _upsert_profiles_sqlite(rows: list[tuple]) -> None:
    with connection.cursor() as cur:
        cur.executemany(
            "INSERT INTO imports_profile (identity_kind, identity, properties, created_at, "
            "updated_at) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (identity_kind, MD5(identity)) DO UPDATE "
            "SET properties = json_patch(imports_profile.properties, excluded.properties), "
            "updated_at = excluded.updated_at",
            rows,
        )


def _upsert_profiles_pg(identity_kind: str, buffer: str, now) -> None:
    """COPY the batch (one row per identity, already merged, so ON CONFLICT never meets the same
    profile twice) into a session temp table, then one INSERT … SELECT … ON CONFLICT merges it
    into the profiles. The temp table is created once per connection, emptied after use."""
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS ic_profile_batch (identity text, properties jsonb) "
            "ON COMMIT DELETE ROWS"
        )
        with (
            connection.wrap_database_errors,
            cur.cursor.copy("COPY ic_profile_batch (identity, properties) FROM STDIN") as copy,
        ):
            copy.write(buffer)
        # ORDER BY: two workers upserting overlapping batches lock rows in the same order.
        cur.execute(
            "INSERT INTO imports_profile AS p (identity_kind, identity, properties, created_at, "
            "updated_at) SELECT %s, b.identity, b.properties, %s, %s "
            "FROM ic_profile_batch b ORDER BY b.identity "
            "ON CONFLICT (identity_kind, MD5(identity)) DO UPDATE "
            "SET properties = p.properties || EXCLUDED.properties, "
            "updated_at = EXCLUDED.updated_at",
            [identity_kind, now, now],
        )
        cur.execute("TRUNCATE ic_profile_batch")


def add_error_counts(run_id: int, counts: Counter) -> None:
    """Add this batch's (field, code) failure counts to the run's error summary."""
    if not counts:
        return
    with connection.cursor() as cur:
        cur.executemany(
            "INSERT INTO imports_runerrorcount (run_id, field, code, count) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (run_id, field, code) DO UPDATE "
            "SET count = imports_runerrorcount.count + excluded.count",
            [(run_id, field, code, n) for (field, code), n in sorted(counts.items())],
        )
