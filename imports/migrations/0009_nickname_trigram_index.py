"""Index for the listing's nickname search (`icontains`, which Django writes as
`UPPER(nickname::text) LIKE UPPER('%...%')`): a trigram GIN index on that expression, so a search
reads the index instead of scanning every import twice (the count and the page).

PostgreSQL only, and only where the pg_trgm extension can be created (it ships with PostgreSQL;
a managed database may refuse a role without the right): without it, search still works by
scanning, as before.
"""

from django.db import migrations, transaction


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception:  # no privilege for extensions: keep scanning
        return
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS import_nickname_trgm_idx "
        "ON imports_import USING gin (UPPER(nickname::text) gin_trgm_ops)"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS import_nickname_trgm_idx")


class Migration(migrations.Migration):
    dependencies = [("imports", "0008_profile_identity_md5")]
    operations = [migrations.RunPython(create_index, drop_index)]
