"""A schema for the request loader's per-chunk staging tables (ingest.loader.staging).

They are written on the reader's own connection, so they cannot be temporary tables of the
loading connection; a schema of their own keeps them apart from the product's tables.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ingest", "0001_initial")]

    operations = [
        migrations.RunSQL("CREATE SCHEMA IF NOT EXISTS ingest_stage",
                          reverse_sql="DROP SCHEMA IF EXISTS ingest_stage CASCADE"),
    ]
