"""Fill ``MutationWeekCount`` from the samples already stored (one pass; the services keep it
exact from then on)."""

from django.db import migrations


def fill_week_counts(apps, schema_editor):
    """Count what is already stored."""
    from ena_like.services.sample_index import rebuild_week_counts

    with schema_editor.connection.cursor() as cursor:
        rebuild_week_counts(cursor)


class Migration(migrations.Migration):
    dependencies = [("ena_like", "0006_mutation_week_count")]

    operations = [migrations.RunPython(fill_week_counts, migrations.RunPython.noop)]
