"""Identity sequences of the high-volume tables hand out 1000 values per fetch.

A run COPYs a million RecordResults and events; with the default cache of 1 every row's id
costs a locked sequence fetch (bench/import_e2e.py: about a quarter of a RecordResult's write
cost). Ids stay unique and ascending per session; a disconnected session leaves a gap, which
nothing here reads meaning into. PostgreSQL only: SQLite has no sequences.
"""

from django.db import migrations

TABLES = ("imports_recordresult", "imports_event", "imports_profile")


def set_cache(size):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in TABLES:
            schema_editor.execute(
                f"ALTER TABLE {schema_editor.quote_name(table)} ALTER COLUMN id SET CACHE {size}"
            )

    return apply


class Migration(migrations.Migration):
    dependencies = [("imports", "0005_health_rank_index")]
    operations = [migrations.RunPython(set_cache(1000), set_cache(1))]
