"""Small hand-made worlds for detection tests, written as log files and loaded by ingest."""

from __future__ import annotations

import random
from pathlib import Path

from ingest.services import ingest_path
from tests.support.logs import account, request, write_jsonl

DAY = 24 * 60


def background(n: int = 40, days: int = 3, seed: int = 1) -> tuple[list[dict], list[dict]]:
    """Ordinary customers: own organisation, own address, own times, chat and writing."""
    rng = random.Random(seed)
    accounts, requests = [], []
    for i in range(n):
        aid = f"bg_{i:03d}"
        accounts.append(account(aid, org_id=f"org_bg_{i}", created_at=f"2025-{1 + i % 12:02d}-{1 + i % 27:02d}T0{i % 10}:00:00Z",
                                payment_fingerprint=f"fp_bg_{i}", payment_method="card",
                                device_fingerprint=f"dev_bg_{i}", billing_country="US",
                                signup_ip=f"10.{i}.{i % 7}.5"))
        for k in range(20):
            minute = rng.uniform(0, days * DAY)
            requests.append(request(f"bg_{i}_{k}", minute, account=aid, ip=f"10.{i}.{i % 7}.5", country="US",
                                    ip_type="residential", category=rng.choice(["chat", "writing", "translation"]),
                                    client_fingerprint=f"cf_{i % 5}", output_tokens=300))
    return accounts, requests


def ring(prefix: str, n: int, *, org: str | None = None, days: int = 3, card: str | None = "fp_ring",
         template: str | None = "tpl_ring", device: str | None = None, net: str = "203.0.113",
         created_day: int = 10) -> tuple[list[dict], list[dict]]:
    """Accounts acting as one: shared card and template, synchronized bursts, proxies."""
    accounts, requests = [], []
    for i in range(n):
        aid = f"{prefix}_{i:03d}"
        accounts.append(account(aid, org_id=org or f"org_{prefix}_{i}",
                                created_at=f"2026-03-{created_day:02d}T10:{i % 60:02d}:00Z",
                                payment_fingerprint=card or f"fp_{prefix}_{i}", payment_method="prepaid_card",
                                device_fingerprint=device or f"dev_{prefix}_{i}", billing_country="HK",
                                signup_ip=f"{net}.{i % 250 + 1}"))
        for burst in range(days * 8):
            minute = burst * 180 + i * 0.1
            requests.append(request(f"{prefix}_{i}_{burst}", minute, account=aid, ip=f"{net}.{(i + burst) % 250 + 1}",
                                    country="US", ip_type="proxy", category="coding", template_hash=template,
                                    reasoning_requested=True, output_tokens=3000))
    return accounts, requests


def load(tmp: Path, name: str, accounts: list[dict], requests: list[dict]) -> None:
    """Write and ingest one accounts file and one requests file."""
    ingest_path(str(write_jsonl(tmp / f"accounts-{name}.jsonl", accounts)))
    ingest_path(str(write_jsonl(tmp / f"requests-{name}.jsonl", requests)))
