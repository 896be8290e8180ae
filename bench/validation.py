"""Micro-benchmark: records/s for reading + validating a generated requests-*.jsonl.gz file.

Usage: ``python bench/validation.py [N_RECORDS]`` (default 200,000). Writes its own data to a
temporary directory, then times, on one core:

- read: ``iter_batches`` alone (gunzip + split + UTF-8 decode + orjson parse);
- validate: ``validate_record`` alone on the already-parsed records;
- read + validate: the whole pipeline, as the loader runs it.

The budget is ~150,000 request records/s for read + validate on typical ~30-field records.
"""

from __future__ import annotations

import gzip
import os
import random
import sys
import tempfile
import time

import orjson

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ingest.formats import ReadStats, iter_batches
from ingest.validation import validate_record

CATEGORIES = [
    "coding",
    "agentic",
    "reasoning",
    "math",
    "writing",
    "chat",
    "Translation",
]
IP_TYPES = ["residential", "mobile", "business", "hosting", "vpn"]
MODELS = ["model-a", "model-b", "model-c-large"]


def make_record(i: int, rng: random.Random) -> dict:
    """A typical gateway record: ~30 fields, most optional ones present."""
    second = i % 86_400
    ts = f"2026-04-22T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}.{rng.randrange(1000):03d}Z"
    if i % 10 == 0:
        ts = ts[:-1] + "+02:00"
    if i % 20 == 0:
        ip = f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(65536):x}"
    else:
        ip = f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
    rec = {
        "request_id": f"req_{i:016d}",
        "ts": ts,
        "account_id": f"acct_{rng.randrange(50_000):012d}",
        "api_key_id": f"key_{rng.randrange(100_000):06d}",
        "org_id": f"org_{rng.randrange(5_000):05d}",
        "ip": ip,
        "country": rng.choice(["US", "SG", "de", "FR", "BR"]),
        "asn": rng.randrange(1, 400_000),
        "ip_type": rng.choice(IP_TYPES),
        "user_agent": "python-sdk/0.49.0 (Linux; x86_64) CPython/3.12.3",
        "client_fingerprint": f"cf_{rng.getrandbits(64):016x}",
        "end_user_id": f"eu_{rng.randrange(1_000_000)}",
        "model": rng.choice(MODELS),
        "status_code": 200 if rng.random() < 0.95 else 429,
        "input_tokens": rng.randrange(10, 50_000),
        "output_tokens": rng.randrange(0, 8_000),
        "latency_ms": rng.randrange(50, 120_000),
        "category": rng.choice(CATEGORIES),
        "prompt_hash": f"ph_{rng.getrandbits(64):016x}",
        "prompt_simhash": f"{rng.getrandbits(64):016x}",
        "template_hash": f"tpl_{rng.getrandbits(32):08x}",
        "system_prompt_hash": f"sp_{rng.getrandbits(32):08x}",
        "conversation_id": f"conv_{rng.getrandbits(48):012x}",
        "turn": rng.randrange(1, 40),
        "tool_count": rng.randrange(0, 12),
        "reasoning_requested": rng.random() < 0.2,
        "stream": rng.random() < 0.5,
        "prompt_lang": "en",
    }
    if i % 50 == 0:
        rec["prompt_excerpt"] = (
            "Solve the following task and explain every step of your reasoning. " * 5
        )
    return rec


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "requests-bench.jsonl.gz")
        with gzip.open(path, "wb", compresslevel=6) as f:
            for i in range(n):
                f.write(orjson.dumps(make_record(i, rng)) + b"\n")
        print(f"{n:,} records, {os.path.getsize(path) / 1e6:.1f} MB gzip")

        def best_of(runs: int, fn) -> float:
            """Fastest of a few runs, in records/s: the machine's noise only ever slows."""
            return max(fn() for _ in range(runs))

        def read() -> float:
            start = time.perf_counter()
            for _batch in iter_batches(path, "requests"):
                pass
            return n / (time.perf_counter() - start)

        # Validate a loader-sized batch (10,000 records) over and over: holding all n
        # parsed records at once would measure the allocator, not the validator.
        sample = [
            (obj, src)
            for batch in iter_batches(path, "requests")
            for _, _, obj, src in batch
        ][:10_000]
        assert all(
            validate_record("requests", obj, src)[0] is not None for obj, src in sample
        )

        def validate() -> float:
            start = time.perf_counter()
            for obj, source in sample:
                validate_record("requests", obj, source)
            return len(sample) / (time.perf_counter() - start)

        def pipeline() -> float:
            stats = ReadStats()
            start = time.perf_counter()
            for batch in iter_batches(path, "requests", stats=stats):
                for _, _, obj, source in batch:
                    validate_record("requests", obj, source)
            return n / (time.perf_counter() - start)

        read_rate, validate_rate, total_rate = (
            best_of(3, read),
            best_of(5, validate),
            best_of(3, pipeline),
        )

    print(f"read:            {read_rate:>10,.0f} records/s")
    print(f"validate:        {validate_rate:>10,.0f} records/s")
    print(f"read + validate: {total_rate:>10,.0f} records/s  (budget 150,000)")


if __name__ == "__main__":
    main()
