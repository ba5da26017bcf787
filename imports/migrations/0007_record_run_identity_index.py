"""The detail pane's identity search on PostgreSQL: a btree on (run, hash of the identity)
instead of a hash index on the identity.

A search is always within one run, and a run's records arrive together, so this index takes
each run's inserts in one small, hot region at its end; the hash index put every record on a
random bucket page of an index spanning every run, which after each checkpoint costs a full
page image in the WAL (a third of a run's WAL, bench/import_e2e.py) and grows with the table.
The btree holds a 64-bit hash because identities may be longer than a btree entry allows;
`RecordResultQuerySet.with_identity` compares the identity itself too.
"""

from django.db import migrations


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS record_identity_hash_idx")
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS record_run_identity_hash_idx "
            "ON imports_recordresult (run_id, hashtextextended(identity, 0))"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS record_run_identity_hash_idx")
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS record_identity_hash_idx "
            "ON imports_recordresult USING hash (identity)"
        )


class Migration(migrations.Migration):
    dependencies = [("imports", "0006_sequence_caches")]
    operations = [migrations.RunPython(create_index, drop_index)]
