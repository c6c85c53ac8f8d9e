"""Fill ``SampleFieldCoverage`` from the samples already stored (its own migration: the unique
constraint the upsert needs is created at the end of 0003)."""

from django.db import migrations


def fill_coverage(apps, schema_editor):
    """Count what is already stored (one pass over the samples; the services keep it exact
    from then on)."""
    from ena_like.services.sample_index import rebuild_coverage

    with schema_editor.connection.cursor() as cursor:
        rebuild_coverage(cursor)


class Migration(migrations.Migration):
    dependencies = [("ena_like", "0003_sample_field_coverage")]

    operations = [migrations.RunPython(fill_coverage, migrations.RunPython.noop)]
