"""The request table, partitioned by month of ts.

Django cannot declare a partitioned table, so the model is unmanaged and the table is made
here. Columns are ordered widest-aligned first so PostgreSQL pads no bytes between them; at
tens of millions of rows every byte per row is tens of megabytes.
"""

from __future__ import annotations

from django.db import migrations

CREATE = """
CREATE TABLE request (
    ts timestamptz NOT NULL,
    asn bigint,
    prompt_simhash bigint,
    account_id integer NOT NULL,
    api_key_id integer,
    org_id integer,
    country_id integer,
    user_agent_id integer,
    client_fingerprint_id integer,
    model_id integer NOT NULL,
    input_tokens integer NOT NULL,
    output_tokens integer NOT NULL,
    latency_ms integer,
    category_id integer,
    template_id integer,
    system_prompt_id integer,
    turn integer,
    tool_count integer,
    prompt_lang_id integer,
    ingest_run_id integer NOT NULL,
    status_code smallint NOT NULL,
    ip_type smallint,
    reasoning_requested boolean,
    stream boolean,
    ip inet NOT NULL,
    request_id text NOT NULL,
    end_user_id text,
    prompt_hash text,
    conversation_id text
) PARTITION BY RANGE (ts);
-- The one index the timelines, an account's request list and detection's per-account scans
-- need; every other read goes through rollups. Each monthly partition inherits it.
CREATE INDEX request_account_ts ON request (account_id, ts);
"""

# Category 0 (value "") is "no category" in rollup keys, which must be NOT NULL.
SENTINEL = "INSERT INTO lookup_category (id, value) VALUES (0, '') ON CONFLICT DO NOTHING;"


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [
        migrations.RunSQL(CREATE, reverse_sql="DROP TABLE request;"),
        migrations.RunSQL(SENTINEL, reverse_sql="DELETE FROM lookup_category WHERE id = 0;"),
    ]
