# Issue 17, item 1: failed records keep their rejected values and source row.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("imports", "0005_event_key"),
    ]

    operations = [
        # Nullable, no default: PostgreSQL adds the column without rewriting the table.
        migrations.AddField(
            model_name="recordresult",
            name="source_row",
            field=models.TextField(
                blank=True,
                help_text="Failed records: the mapped columns of the source row "
                "(imports.failed_values); a number (its size in bytes) when it was larger than "
                "16 KB; NULL when not kept.",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="recordresult",
            name="errors",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text='[{"field", "code", "message", "value", "cut"}], one per field; "value" '
                '(the rejected source value as text) and "cut" (true when cut at 200 characters) '
                "as kept.",
            ),
        ),
    ]
