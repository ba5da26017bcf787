"""Index serving the listing sorted by Health, in either direction (a backward scan serves
descending), so the first page is read off the index instead of sorting every import.

PostgreSQL only: SQLite cannot put NULLS FIRST in an index. NULLS FIRST is on every key exactly
as `imports.filters` orders, since PostgreSQL uses an index for an ORDER BY only when the null
placement matches too.
"""

from django.db import migrations, models

from imports.models import health_rank

INDEX = models.Index(
    health_rank().asc(nulls_first=True),
    models.F("health_hundredths").asc(nulls_first=True),
    models.F("id"),
    name="import_health_rank_idx",
)


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("imports", "Import"), INDEX)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("imports", "Import"), INDEX)


class Migration(migrations.Migration):
    dependencies = [("imports", "0004_leaner_record_writes")]
    operations = [migrations.RunPython(create_index, drop_index)]
