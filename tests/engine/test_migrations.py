"""Migration 0010 (natural primary keys) writes its own schema changes: they must keep every
row, in both directions, on PostgreSQL and on SQLite."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("imports", "0009_nickname_trigram_index")]
AFTER = [("imports", "0010_natural_primary_keys")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def key_columns(table: str) -> list[str]:
    with connection.cursor() as cur:
        constraints = connection.introspection.get_constraints(cur, table)
    (key,) = [c["columns"] for c in constraints.values() if c["primary_key"]]
    # SQLite's introspection lists a key's columns in table order, PostgreSQL's in key order.
    return key if connection.vendor == "postgresql" else sorted(key)


@pytest.mark.django_db(transaction=True)
def test_natural_keys_migrate_both_ways_and_keep_every_row():
    from tests import factories

    run = factories.make_run(factories.make_import(factories.make_datasource()))
    code = uuid.uuid4()
    migrate(BEFORE)
    try:
        with connection.cursor() as cur:
            for n in (1, 2, 3):
                cur.execute(
                    "INSERT INTO imports_recordresult (run_id, row_number, success, identity, "
                    "event_name, errors, error_keys) VALUES (%s, %s, %s, 'u', '', '[]', '')",
                    [run.pk, n, True],
                )
                cur.execute(
                    "INSERT INTO imports_event (identity_kind, identity, event_name, occurred_at, "
                    "properties, run_code, row_number) VALUES ('identity', 'u', 'e', %s, '{}', "
                    "%s, %s)",
                    [run.created_at, code.hex if connection.vendor == "sqlite" else code, n],
                )
        assert key_columns("imports_recordresult") == ["id"]
    finally:
        migrate(AFTER)
    natural = {"postgresql": (["run_id", "row_number"], ["run_code", "row_number"])}
    record_key, event_key = natural.get(
        connection.vendor, (["row_number", "run_id"], ["row_number", "run_code"])
    )
    assert key_columns("imports_recordresult") == record_key
    assert key_columns("imports_event") == event_key

    from imports.models import Event, RecordResult

    assert list(RecordResult.objects.filter(run=run).values_list("pk", flat=True)) == [
        (run.pk, 1),
        (run.pk, 2),
        (run.pk, 3),
    ]
    assert Event.objects.filter(run_code=code).count() == 3
    with pytest.raises(IntegrityError), transaction.atomic():  # the key still refuses a repeat
        RecordResult.objects.create(run=run, row_number=2, success=False)

    migrate(BEFORE)  # and back, keeping the rows
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT count(*), count(DISTINCT id) FROM imports_recordresult")
            assert cur.fetchone() == (3, 3)
            cur.execute("SELECT count(*), count(DISTINCT id) FROM imports_event")
            assert cur.fetchone() == (3, 3)
    finally:
        migrate(AFTER)
