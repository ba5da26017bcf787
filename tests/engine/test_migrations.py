"""The squashed migrations: they apply and unapply on the database in use, import no live code,
and on PostgreSQL the hand-written indexes of 0003 are the ones the queries really use."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from imports.filters import apply_sort
from imports.models import Event, Import, RecordResult

MIGRATIONS = Path(__file__).resolve().parents[2] / "imports" / "migrations"

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the 0003 indexes exist on PostgreSQL only"
)


def migrate(targets=None):
    """Migrate to `targets`; without them, every app to its latest migration (unapplying
    imports' first migration unapplies the apps that depend on it too)."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


def index_names(table: str) -> set[str]:
    with connection.cursor() as cur:
        return set(connection.introspection.get_constraints(cur, table))


def plan(queryset) -> str:
    """PostgreSQL's plan for `queryset` with sequential scans priced out, so a usable index
    is chosen even on a near-empty table."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cur.fetchall())


def test_no_migration_imports_application_code():
    for path in MIGRATIONS.glob("0*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.module.split(".")[0] == "django", f"{path.name}: {node.module}"
            elif isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
                assert roots <= {"django", "uuid"}, f"{path.name}: {roots}"


@pytest.mark.django_db(transaction=True)
def test_the_migrations_unapply_and_apply_again_keeping_the_roles():
    from django.contrib.auth.models import Group

    migrate([("imports", "0001_initial")])
    try:
        assert "import_health_rank_idx" not in index_names("imports_import")
        assert not Group.objects.filter(name__in=["Viewer", "Editor"]).exists()
    finally:
        migrate()
    assert set(Group.objects.values_list("name", flat=True)) >= {"Viewer", "Editor"}
    assert "record_run_failed_idx" in index_names("imports_recordresult")


@postgres_only
@pytest.mark.django_db
def test_the_listing_sorted_by_health_reads_the_health_rank_index_both_ways():
    # The index's expression is written out in the migration; it must stay equal to
    # `imports.models.health_rank`, or PostgreSQL stops using it.
    for key in ("health", "-health"):
        assert "import_health_rank_idx" in plan(apply_sort(Import.objects.all(), key)[:25]), key


@postgres_only
@pytest.mark.django_db
def test_the_nickname_search_and_the_identity_search_read_their_indexes():
    # Unordered, as the listing's count query is (ordered, PostgreSQL may rather walk the
    # created-at index and filter, once the table has statistics).
    search = Import.objects.filter(nickname__icontains="weekly").order_by()
    assert "import_nickname_trgm_idx" in plan(search)
    identity = RecordResult.objects.filter(run_id=1).with_identity("u" * 1024)
    assert "record_run_identity_hash_idx" in plan(identity)
    # A run with `successes_in_events` finds its imported rows by identity in Event.
    events = Event.objects.filter(run_code=uuid.uuid4()).with_identity("u" * 1024)
    assert "event_run_identity_hash_idx" in plan(events)
