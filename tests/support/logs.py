"""Builders for hand-made log records and files (the log format, spec/log-format.md)."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

T0 = datetime(2026, 4, 22, 0, 0, tzinfo=timezone.utc)


def ts(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def request(request_id: str, minutes: float = 0, account: str = "acct_A", **fields) -> dict:
    record = {
        "request_id": request_id,
        "ts": ts(minutes),
        "account_id": account,
        "ip": "192.0.2.10",
        "model": "model-large",
        "input_tokens": 100,
        "output_tokens": 200,
        "category": "coding",
    }
    record.update(fields)
    return {k: v for k, v in record.items() if v is not None}


def account(account_id: str, **fields) -> dict:
    record = {"account_id": account_id, "created_at": "2026-01-05T10:00:00Z"}
    record.update(fields)
    return record


def write_jsonl(path: Path, records: list, gz: bool = False) -> Path:
    text = "".join(r if isinstance(r, str) else json.dumps(r) + "\n" for r in records)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_csv(path: Path, records: list[dict]) -> Path:
    names = sorted({k for r in records for k in r})
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        for r in records:
            writer.writerow({k: ("true" if v is True else "false" if v is False else v) for k, v in r.items()})
    return path


def many_requests(n: int, accounts: int = 50, start_minute: float = 0, step_minutes: float = 0.5, prefix: str = "req"):
    """``n`` requests spread over ``accounts`` accounts, one every ``step_minutes`` per account."""
    for i in range(n):
        acct = i % accounts
        yield request(f"{prefix}_{i:09d}", start_minute + (i // accounts) * step_minutes, account=f"acct_{acct:05d}",
                      api_key_id=f"key_{acct:05d}", ip=f"198.51.100.{acct % 250 + 1}")
