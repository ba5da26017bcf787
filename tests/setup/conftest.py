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


@pytest.fixture
def draft(duck, editor):
    return factories.make_import(
        duck,
        nickname="Draft events",
        status=Import.Status.DRAFT,
        sync_type=Import.SyncType.PROFILE,
        source="events",
        identity_column="",
        schedule_kind=Import.ScheduleKind.MANUAL,
        interval_every=None,
        interval_unit="",
        created_by=editor,
    )


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
