"""Index request.ip: analysts search by IP or /24 and the blocklist pivots on member IPs.

A btree on inet also serves /24 look-ups (``ip << '198.51.100.0/24'`` becomes a range
scan). It is the only index besides (account_id, ts); every other pivot reads rollups.
"""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_request_key_without_digest")]

    operations = [
        migrations.RunSQL("CREATE INDEX request_ip ON request (ip);", reverse_sql="DROP INDEX request_ip;"),
    ]
