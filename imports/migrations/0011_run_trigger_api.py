# The API trigger (the HTTP API comes later; runs it starts are labelled now).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("imports", "0010_natural_primary_keys"),
    ]

    operations = [
        migrations.AlterField(
            model_name="importrun",
            name="trigger",
            field=models.CharField(
                choices=[("schedule", "Schedule"), ("manual", "Manual"), ("api", "API")],
                default="schedule",
                max_length=10,
            ),
        ),
    ]
