"""Fixtures for the setup pages: a tiny DuckDB warehouse and a datasource pointing at it."""

from __future__ import annotations

import duckdb
import pytest

from imports.models import Import
from tests import factories


@pytest.fixture
def warehouse_path(tmp_path):
    """A DuckDB file with a `profiles` and an `events` table, a few rows dirty on purpose."""
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE profiles (user_id VARCHAR, email VARCHAR, phone VARCHAR, msg_sms VARCHAR,"
        " age INTEGER, score DOUBLE, signed_up DATE)"
    )
    con.execute(
        """INSERT INTO profiles VALUES
        ('u1', 'a@example.com', '+919876543210', 'true', 30, 1.5, DATE '2024-01-02'),
        ('u2', 'not-an-email', '+919876543211', '1', 41, 2.5, DATE '2024-02-03'),
        ('null', 'c@example.com', '12345', 'maybe', 22, 3.5, DATE '2024-03-04')"""
    )
    con.execute(
        "CREATE TABLE events (user_id VARCHAR, event_name VARCHAR, created_on TIMESTAMP,"
        " amount DOUBLE)"
    )
    con.execute(
        """INSERT INTO events VALUES
        ('u1', 'Charged', TIMESTAMP '2024-01-02 10:00:00', 10.5),
        ('u2', 'App Launched', TIMESTAMP '2024-01-02 11:00:00', 3.0),
        ('u3', 'Added.to.cart', TIMESTAMP '2024-01-02 12:00:00', 1.0),
        ('u4', 'Viewed', TIMESTAMP '2024-01-02 13:00:00', 2.0)"""
    )
    con.close()
    return path


@pytest.fixture
def duck(db, editor, warehouse_path):
    return factories.make_datasource(
        name="Local duck", partner="duckdb", settings={"path": str(warehouse_path)}
    )


# An import as step 1 leaves it: a source, no mapping, no schedule yet.
DRAFT = {
    "status": Import.Status.DRAFT,
    "sync_type": Import.SyncType.PROFILE,
    "identity_column": "",
    "schedule_kind": Import.ScheduleKind.MANUAL,
    "interval_every": None,
    "interval_unit": "",
}


@pytest.fixture
def draft(duck, editor):
    return factories.make_import(
        duck, nickname="Draft events", source="events", created_by=editor, **DRAFT
    )


@pytest.fixture
def wide_draft_of(tmp_path):
    """Makes a Draft of a DuckDB table `wide` with these VARCHAR columns; each row fills the
    first columns. The caller's test provides the database."""

    def make(columns: list[str], rows: list[tuple], created_by=None) -> Import:
        path = tmp_path / "wide.duckdb"
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE wide (" + ", ".join(f'"{c}" VARCHAR' for c in columns) + ")")
        for row in rows:
            names = ", ".join(f'"{c}"' for c in columns[: len(row)])
            con.execute(f"INSERT INTO wide ({names}) VALUES ({', '.join('?' * len(row))})", row)
        con.close()
        ds = factories.make_datasource(name="Wide duck", settings={"path": str(path)})
        return factories.make_import(
            ds, nickname="Wide", source="wide", created_by=created_by, **DRAFT
        )

    return make


@pytest.fixture
def event_mapping() -> dict:
    return {
        "sync_type": "event",
        "identity_column": "user_id",
        "identity_kind": "identity",
        "event_name_column": "event_name",
        "timestamp_column": "created_on",
        "timestamp_format": None,
        "fields": [{"column": "amount", "target": "amount", "type": "Float", "date_format": None}],
    }


def _event_mapped(event_mapping: dict) -> dict:
    """The fields of an import of `events` whose event mapping is saved."""
    return {
        "source": "events",
        "sync_type": Import.SyncType.EVENT,
        "mapping": event_mapping,
        "identity_column": "user_id",
        "event_name_column": "event_name",
        "timestamp_column": "created_on",
    }


@pytest.fixture
def event_import_of(duck, event_mapping):
    """Makes imports of the `events` table with the event mapping saved."""

    def make(**kwargs) -> Import:
        return factories.make_import(duck, **{**_event_mapped(event_mapping), **kwargs})

    return make


@pytest.fixture
def mapped(draft, event_mapping) -> Import:
    """The draft, with the event mapping saved."""
    Import.objects.filter(pk=draft.pk).update(**_event_mapped(event_mapping))
    draft.refresh_from_db()
    return draft
