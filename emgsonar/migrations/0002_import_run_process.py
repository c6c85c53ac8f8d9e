"""ImportRun: the web sandbox flag and the process running it (host, pid, heartbeat)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("emgsonar", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="importrun",
            name="heartbeat",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="importrun",
            name="host",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name="importrun",
            name="pid",
            field=models.IntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="importrun",
            name="pid_start_ticks",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="importrun",
            name="sandboxed",
            field=models.BooleanField(default=False),
        ),
    ]
