"""Index for the detail pane's "search by identity" within a run.

On PostgreSQL a hash index: identities can be up to 1,100 characters of any script, beyond what
a btree entry may hold (2,704 bytes), and the search is an equality. SQLite has no such limit.
"""

from django.db import migrations


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS record_identity_hash_idx "
            "ON imports_recordresult USING hash (identity)"
        )
    else:
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS record_run_identity_idx "
            "ON imports_recordresult (run_id, identity)"
        )


def drop_index(apps, schema_editor):
    schema_editor.execute("DROP INDEX IF EXISTS record_identity_hash_idx")
    schema_editor.execute("DROP INDEX IF EXISTS record_run_identity_idx")


class Migration(migrations.Migration):
    dependencies = [("imports", "0002_roles")]
    operations = [migrations.RunPython(create_index, drop_index)]
