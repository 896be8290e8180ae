"""Account records: applied in file order, a later record's fields over earlier ones.

Account files are small next to request files (one row per customer), so records are folded
in Python, in order, against the stored state; that is what tells a new account from an
update from a plain repeat. The changed accounts are then written back set-based.
"""

from __future__ import annotations

from ingest.loader.lookups import LookupCache
from ingest.validation import ACCOUNT_FIELDS

_FETCH = """
SELECT a.account_id, a.is_placeholder,
       to_char(a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00',
       o.value, a.email, host(a.signup_ip), a.signup_country, a.signup_asn::text,
       a.billing_country, a.payment_fingerprint, a.payment_method,
       CASE WHEN a.phone_verified THEN 'true' WHEN NOT a.phone_verified THEN 'false' END,
       a.device_fingerprint, a.signup_channel, a.plan, a.status
FROM account a LEFT JOIN org o ON o.id = a.org_id
WHERE a.account_id = ANY(%s)
"""

_COLUMNS = {"org_id": "org_id integer", "created_at": "created_at timestamptz", "signup_ip": "signup_ip inet",
            "signup_asn": "signup_asn bigint", "phone_verified": "phone_verified boolean"}
_STAGE_DDL = ", ".join(_COLUMNS.get(name, f"{name} text") for name in ACCOUNT_FIELDS)
_ASSIGN = ", ".join(f"{name} = excluded.{name}" for name in ACCOUNT_FIELDS if name != "account_id")
_UPSERT = f"""
INSERT INTO account ({", ".join(ACCOUNT_FIELDS)}, is_placeholder, request_count, updated_at)
SELECT {", ".join(ACCOUNT_FIELDS)}, false, 0, now() FROM stage_account
ON CONFLICT (account_id) DO UPDATE SET {_ASSIGN}, is_placeholder = false, updated_at = now()
"""
_ORG = ACCOUNT_FIELDS.index("org_id")


class AccountLoader:
    """Applies account records batch by batch inside the load transaction."""

    def __init__(self, cursor, lookups: LookupCache):
        self._cursor = cursor
        self._lookups = lookups
        self.counts = {"loaded": 0, "updated": 0, "duplicates": 0}
        cursor.execute(f"CREATE TEMP TABLE stage_account ({_STAGE_DDL}) ON COMMIT DROP")

    def add(self, good: list[tuple[int, tuple]]) -> None:
        if not good:
            return
        self._cursor.execute(_FETCH, ([row[0] for _, row in good],))
        state = {r[0]: (r[1], list(r[0:1] + r[2:])) for r in self._cursor.fetchall()}
        changed: dict[str, list] = {}
        for _, row in good:
            placeholder, current = state.get(row[0], (True, None))
            if placeholder or current is None:
                self.counts["loaded"] += 1
                current = list(row)
            elif self._apply(current, row):
                self.counts["updated"] += 1
            else:
                self.counts["duplicates"] += 1
                continue
            state[row[0]] = (False, current)
            changed[row[0]] = current
        self._write(list(changed.values()))

    def _apply(self, current: list, row: tuple) -> bool:
        """Apply the fields ``row`` carries to ``current``; True if anything changed."""
        changed = False
        for i, value in enumerate(row):
            if value is not None and current[i] != value:
                current[i] = value
                changed = True
        return changed

    def _write(self, rows: list[list]) -> None:
        if not rows:
            return
        orgs = {r[_ORG] for r in rows if r[_ORG] is not None}
        self._lookups.register("org", orgs)
        org_ids = self._lookups.ids("org")
        cursor = self._cursor
        cursor.execute("TRUNCATE stage_account")
        with cursor.copy(f"COPY stage_account ({', '.join(ACCOUNT_FIELDS)}) FROM STDIN") as copy:
            for row in rows:
                out = list(row)
                if out[_ORG] is not None:
                    out[_ORG] = org_ids[out[_ORG]]
                copy.write_row(out)
        cursor.execute(_UPSERT)

    def finish(self) -> dict[str, int]:
        return dict(self.counts)
