# Issue 17, item 3: a run that retries the failed records of another.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("imports", "0006_failed_values"),
    ]

    operations = [
        migrations.AddField(
            model_name="importrun",
            name="not_retried",
            field=models.JSONField(
                blank=True,
                help_text='A retry run: failed records it could not retry, by reason ({"too_large": '
                'n, "not_kept": n}); their source row was not kept.',
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="importrun",
            name="retry_of",
            field=models.ForeignKey(
                blank=True,
                help_text="A retry run: the run whose failed records it validated again.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="retries",
                to="imports.importrun",
            ),
        ),
        migrations.AlterField(
            model_name="importrun",
            name="trigger",
            field=models.CharField(
                choices=[
                    ("schedule", "Schedule"),
                    ("manual", "Manual"),
                    ("api", "API"),
                    ("retry", "Retry"),
                ],
                default="schedule",
                max_length=10,
            ),
        ),
    ]
