"""Event runs stop writing a RecordResult for each imported row (`ImportRun.successes_in_events`):
the detail pane reads those rows from Event, so its identity search needs the index on Event
that `record_run_identity_hash_idx` (migration 0003) is on RecordResult: (run, 64-bit hash of
the identity) on PostgreSQL, (run, identity) on SQLite."""

from django.db import migrations, models


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS event_run_identity_idx ON imports_event (run_code, identity)"
        )
    elif schema_editor.connection.vendor == "postgresql":
        # CONCURRENTLY: on a store that already holds millions of events, the build does not
        # hold back the imports writing to it meanwhile (hence a non-atomic migration).
        schema_editor.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS event_run_identity_hash_idx "
            "ON imports_event (run_code, hashtextextended(identity, 0))"
        )


def backward(apps, schema_editor):
    schema_editor.execute("DROP INDEX IF EXISTS event_run_identity_idx")
    schema_editor.execute("DROP INDEX IF EXISTS event_run_identity_hash_idx")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("imports", "0008_empty_chunks")]
    operations = [
        migrations.AddField(
            model_name="importrun",
            name="successes_in_events",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(forward, backward),
    ]
