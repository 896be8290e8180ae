"""The audit trail refuses UPDATE and DELETE in the database itself, not only in Python.

TRUNCATE is left to privileges (the application's role should not hold it); a TRUNCATE
trigger would also stop the test suite's flush between tests.
"""

from __future__ import annotations

from django.db import migrations

SQL = """
CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % is not allowed', TG_OP;
END $$;
CREATE TRIGGER audit_event_no_update_delete BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
"""
REVERSE = """
DROP TRIGGER audit_event_no_update_delete ON audit_event;
DROP FUNCTION audit_event_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial")]
    operations = [migrations.RunSQL(SQL, reverse_sql=REVERSE)]
