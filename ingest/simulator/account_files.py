"""Account records: the sign-up export before the window, daily sign-ups, later status updates.

Records are written in the order a billing export would give them (by sign-up time), never
by group, so a file's layout reveals nothing about who belongs together.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from .strings import hex_strings
from .world import START_MS, World, day_name
from .writers import write_accounts_csv_gz, write_accounts_jsonl


def _timestamp(ms: int, offset_min: int = 0) -> str:
    """RFC 3339 with the sign-up system's local offset (Z when UTC)."""
    tz = UTC if offset_min == 0 else timezone(timedelta(minutes=offset_min))
    text = datetime.fromtimestamp(ms / 1000, tz).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z")


def account_records(world: World) -> list[dict]:
    """One full record per account, all with status active (as at sign-up)."""
    acc = world.accounts
    ips = world.ips
    ids = world.account_ids.to_pylist()
    orgs = world.org_ids.to_pylist()
    pay = hex_strings(acc["payment"].astype(np.uint64), "pf_", 12).to_pylist()
    dev = hex_strings(acc["device"].astype(np.uint64), "dv_", 12).to_pylist()
    records = []
    for i in range(world.size):
        ip = int(acc["signup_ip"][i])
        records.append({
            "account_id": ids[i],
            "created_at": _timestamp(int(acc["created_ms"][i]), int(acc["offset_min"][i])),
            "org_id": orgs[acc["org"][i]] if acc["org"][i] >= 0 else None,
            "email": acc["email"][i],
            "signup_ip": ips.text_list[ip] if ip >= 0 else None,
            "signup_country": ips.country_list[ip] if ip >= 0 else None,
            "signup_asn": int(ips.asn[ip]) if ip >= 0 else None,
            "billing_country": acc["billing"][i],
            "payment_fingerprint": pay[i] if acc["payment"][i] >= 0 else None,
            "payment_method": acc["method"][i],
            "phone_verified": bool(acc["phone"][i]),
            "device_fingerprint": dev[i] if acc["device"][i] >= 0 else None,
            "signup_channel": acc["channel"][i],
            "plan": acc["plan"][i],
            "status": "active",
        })
    return records


def write_account_files(world: World, out: Path) -> list[dict]:
    """Write every account file; return their entries for the ground truth's file list."""
    records = account_records(world)
    created = world.accounts["created_ms"]
    order = np.argsort(created, kind="stable")
    files = []
    before = [records[i] for i in order if created[i] < START_MS]
    write_accounts_csv_gz(before, out / "accounts-0000-initial.csv.gz")
    files.append({"name": "accounts-0000-initial.csv.gz", "kind": "accounts",
                  "records": len(before), "day": None})
    by_day: dict[int, list[dict]] = {}
    for i in order:
        if created[i] >= START_MS:
            by_day.setdefault(int((created[i] - START_MS) // 86_400_000), []).append(records[i])
    for when, account, status in world.updates:
        # A re-export of the account with its new status; created_at is required in every record.
        update = {"account_id": records[account]["account_id"],
                  "created_at": records[account]["created_at"], "status": status}
        by_day.setdefault(int((when - START_MS) // 86_400_000), []).append(update)
    for day in sorted(by_day):
        name = f"accounts-{day_name(day)}.jsonl"
        write_accounts_jsonl(by_day[day], out / name)
        files.append({"name": name, "kind": "accounts", "records": len(by_day[day]),
                      "day": day_name(day)})
    return files
