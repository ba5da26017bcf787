"""Destination writes of a run batch: profiles upserted by identity (properties merged), events
appended, one RecordResult per source row, and the per-run error summary.

These functions only write; the caller (`imports.engine`) wraps one batch in one transaction
together with its idempotency check and the run's counters, so a batch lands whole or not at
all. PostgreSQL gets `COPY` for the append-only tables and one `INSERT … SELECT unnest(…)`
upsert for profiles; SQLite gets bulk inserts and `json_patch` merges.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from imports.models import Event, Profile, RecordResult, RunErrorCount

_RECORDS = RecordResult._meta.db_table
_EVENTS = Event._meta.db_table
# Literal in the upsert statements below; asserted here so a rename cannot go unnoticed.
assert Profile._meta.db_table == "imports_profile"  # noqa: S101
assert RunErrorCount._meta.db_table == "imports_runerrorcount"  # noqa: S101


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


_encoder = json.JSONEncoder(default=_json_default, ensure_ascii=False, separators=(",", ":"))
dumps = _encoder.encode


def write_records(run_id: int, rows: Sequence[tuple]) -> None:
    """rows: (row_number, success, identity, event_name, errors_json, error_keys)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            copy_sql = (
                f"COPY {_RECORDS} (run_id, row_number, success, identity, event_name, errors, "
                "error_keys) FROM STDIN"
            )
            with connection.wrap_database_errors, cur.cursor.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row((run_id, *row))
        return
    RecordResult.objects.bulk_create(
        [
            RecordResult(
                run_id=run_id,
                row_number=n,
                success=ok,
                identity=identity,
                event_name=event_name,
                errors=json.loads(errors),
                error_keys=keys,
            )
            for n, ok, identity, event_name, errors, keys in rows
        ],
        batch_size=500,
    )


def write_events(run_code, identity_kind: str, rows: Sequence[tuple]) -> None:
    """rows: (row_number, identity, event_name, occurred_at, properties_json)."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            copy_sql = (
                f"COPY {_EVENTS} (identity_kind, identity, event_name, occurred_at, properties, "
                "run_code, row_number) FROM STDIN"
            )
            with connection.wrap_database_errors, cur.cursor.copy(copy_sql) as copy:
                for n, identity, name, at, props in rows:
                    copy.write_row((identity_kind, identity, name, at, props, run_code, n))
        return
    Event.objects.bulk_create(
        [
            Event(
                identity_kind=identity_kind,
                identity=identity,
                event_name=name,
                occurred_at=at,
                properties=json.loads(props),
                run_code=run_code,
                row_number=n,
            )
            for n, identity, name, at, props in rows
        ],
        batch_size=500,
    )


def upsert_profiles(identity_kind: str, profiles: Iterable[tuple[str, dict]]) -> int:
    """Insert or merge profiles. Later rows of the batch win per property, as they would had
    they been written one by one. Identities are written in sorted order so two workers
    upserting overlapping batches take row locks in the same order (no deadlock)."""
    merged: dict[str, dict] = {}
    for identity, props in profiles:
        merged.setdefault(identity, {}).update(props)
    if not merged:
        return 0
    identities = sorted(merged)
    payloads = [dumps(merged[i]) for i in identities]
    now = timezone.now()
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "INSERT INTO imports_profile AS p (identity_kind, identity, properties, created_at, "
                "updated_at) SELECT %s, t.i, t.p, %s, %s "
                "FROM unnest(%s::text[], %s::jsonb[]) AS t(i, p) "
                "ON CONFLICT (identity_kind, identity) DO UPDATE "
                "SET properties = p.properties || EXCLUDED.properties, "
                "updated_at = EXCLUDED.updated_at",
                [identity_kind, now, now, identities, payloads],
            )
        else:
            cur.executemany(
                "INSERT INTO imports_profile (identity_kind, identity, properties, created_at, "
                "updated_at) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (identity_kind, identity) DO UPDATE "
                "SET properties = json_patch(imports_profile.properties, excluded.properties), "
                "updated_at = excluded.updated_at",
                [
                    (identity_kind, i, p, now, now)
                    for i, p in zip(identities, payloads, strict=True)
                ],
            )
    return len(identities)


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
