"""What Django's model `Meta` cannot express: PostgreSQL's expression, trigram and hash-keyed
indexes and a sequence setting. The one SQLite statement is the identity index PostgreSQL
replaces with `record_run_identity_hash_idx` (SQLite has no entry-size limit, so it indexes
(run, identity) itself).

- `import_health_rank_idx`: serves the listing sorted by Health in either direction (a backward
  scan serves descending), so the first page is read off the index instead of sorting every
  import. Its first key is the expression of `imports.models.health_rank`, written out here
  because a migration must not import live code; it must stay equal to that function, since
  PostgreSQL uses an expression index only when the ORDER BY matches it exactly, null placement
  included. `tests/engine/test_migrations.py` checks that the listing's query uses it. SQLite
  cannot put NULLS FIRST in an index.
- `import_nickname_trgm_idx`: the listing's nickname search (`icontains`, which Django writes as
  `UPPER(nickname::text) LIKE UPPER('%…%')`) reads a trigram GIN index instead of scanning every
  import twice (the count and the page). Only where the pg_trgm extension can be created (it
  ships with PostgreSQL; a managed database may refuse a role without the right): without it,
  search still works by scanning.
- `record_run_identity_hash_idx`: the detail pane's identity search, always within one run. A
  btree on (run, 64-bit hash of the identity), since identities (up to 1,100 characters of any
  script) can be longer than a btree entry may hold (2,704 bytes);
  `RecordResultQuerySet.with_identity` compares the identity itself too. A run's records arrive
  together, so its inserts land in one small, hot region at the index's end (a hash index on the
  identity put each on a random page: a third of a run's WAL, bench/import_e2e.py).
- The profile id sequence hands out 1,000 values per fetch: with the default cache of 1 every
  merged profile's id costs a locked sequence fetch. Ids stay unique; a disconnected session
  leaves a gap, which nothing here reads meaning into.
"""

from django.db import migrations, models, transaction

HEALTH_RANK_INDEX = models.Index(
    models.Case(
        models.When(health_band="none", then=models.Value(0)),
        models.When(health_band="blank", then=models.Value(1)),
        default=models.Value(2),
        output_field=models.IntegerField(),
    ).asc(nulls_first=True),
    models.F("health_hundredths").asc(nulls_first=True),
    models.F("id"),
    name="import_health_rank_idx",
)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS record_run_identity_idx "
            "ON imports_recordresult (run_id, identity)"
        )
    if schema_editor.connection.vendor != "postgresql":
        return
    # IF NOT EXISTS throughout: a database made by the migrations before they were squashed
    # (same names up to 0002) already has all of this.
    with schema_editor.connection.cursor() as cursor:
        existing = schema_editor.connection.introspection.get_constraints(cursor, "imports_import")
    if HEALTH_RANK_INDEX.name not in existing:
        schema_editor.add_index(apps.get_model("imports", "Import"), HEALTH_RANK_INDEX)
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS record_run_identity_hash_idx "
        "ON imports_recordresult (run_id, hashtextextended(identity, 0))"
    )
    schema_editor.execute("ALTER TABLE imports_profile ALTER COLUMN id SET CACHE 1000")
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception:  # no privilege for extensions: search keeps scanning
        return
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS import_nickname_trgm_idx "
        "ON imports_import USING gin (UPPER(nickname::text) gin_trgm_ops)"
    )


def backward(apps, schema_editor):
    schema_editor.execute("DROP INDEX IF EXISTS record_run_identity_idx")
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS import_nickname_trgm_idx")
    schema_editor.execute("ALTER TABLE imports_profile ALTER COLUMN id SET CACHE 1")
    schema_editor.execute("DROP INDEX IF EXISTS record_run_identity_hash_idx")
    schema_editor.remove_index(apps.get_model("imports", "Import"), HEALTH_RANK_INDEX)


class Migration(migrations.Migration):
    dependencies = [("imports", "0002_roles")]
    operations = [migrations.RunPython(forward, backward)]
