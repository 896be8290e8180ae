"""Summarize the block ranges of the request partitions' BRIN index on ts that earlier loads
left unsummarized (ingest summarizes after every load from now on; see
copycat.db.summarize_block_ranges). A range with no summary matches every query, so time
windows read whole partitions. Reads each partition's heap once: seconds at seed scale."""

from __future__ import annotations

from django.db import migrations

SUMMARIZE = """
SELECT brin_summarize_new_values(c.oid)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am a ON a.oid = c.relam
JOIN pg_class t ON t.oid = i.indrelid
WHERE a.amname = 'brin' AND t.relname LIKE 'request_y%'
"""


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_account_traffic_value")]

    operations = [migrations.RunSQL(SUMMARIZE, reverse_sql=migrations.RunSQL.noop)]
