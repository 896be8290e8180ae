"""campaign_hour: a campaign's traffic per hour, model and category, for its timelines.

Refreshed by detection and by every membership change (campaigns.services.refresh_figures), so
a campaign page never aggregates account_hour for thousands of members on each view.
"""

from __future__ import annotations

from django.db import migrations

CREATE = """
CREATE TABLE campaign_hour (
    -- No foreign key: Django's flush truncates campaign alone; detection deletes its rows itself.
    campaign_id integer NOT NULL,
    hour timestamptz NOT NULL,
    model_id integer NOT NULL,
    category_id integer NOT NULL,
    requests bigint NOT NULL,
    input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    reasoning_requests bigint NOT NULL,
    accounts integer NOT NULL,
    PRIMARY KEY (campaign_id, hour, model_id, category_id)
);
"""


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0004_packet_manifest")]

    operations = [migrations.RunSQL(CREATE, reverse_sql="DROP TABLE campaign_hour;")]
