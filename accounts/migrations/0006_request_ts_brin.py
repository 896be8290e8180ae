"""A BRIN index on request.ts: the window scans of neighbour lookups (templates, client
fingerprints over an account's last days) read only the blocks of those days.

Files arrive roughly in time order, so each partition's heap is nearly sorted by ts and a
block-range summary is both tiny (kilobytes per million rows) and selective; it costs the
ingest next to nothing, unlike another btree. Measured on the demo world: a 7-day template
scan 1.29 s -> 0.42 s, a 1-day one 0.78 s -> 0.14 s.
"""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_lean_bulk_indexes")]

    operations = [
        migrations.RunSQL("CREATE INDEX request_ts_brin ON request USING brin (ts) WITH (pages_per_range = 32);",
                          reverse_sql="DROP INDEX request_ts_brin;"),
    ]
