#!/usr/bin/env python
"""Ingest benchmark: end-to-end ingest of a .jsonl.gz against a raw COPY of the same rows.

    .venv/bin/python bench/ingest.py [--rows 2000000 4000000] [--out bench/results/ingest.md]

For each size it builds a realistic request file (cached under var/bench/), then in a fresh
database (copycat_bench) runs, in one process:

1. ingest: parse, validate, dedup, sessions and rollups, through ``ingest.services`` in a
   child process whose peak RSS is measured;
2. raw COPY: the rows the ingest stored, exported in COPY format and copied from the
   client into an empty copy of the request table (same partitions, same index): the
   physical limit of writing those rows on this machine.

It writes the figures and ratios to the results file.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import psycopg

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "bench"
BENCH_DB = "copycat_bench"
CATEGORIES = ["coding", "agentic", "tool_use", "reasoning", "math", "chat", "writing", "data_analysis"]
MODELS = ["model-large-2026-03", "model-small-2026-01", "model-large-2026-05"]


def build_file(path: Path, rows: int, seed: int = 1) -> None:
    """Requests of 20,000 accounts over six weeks, every field of the log format in use."""
    rng = random.Random(seed)
    start = datetime(2026, 4, 1, tzinfo=timezone.utc)
    span = 45 * 86400
    with gzip.open(path, "wb", compresslevel=3) as fh:
        for i in range(rows):
            acct = int(rng.paretovariate(1.2)) % 20000
            ts = start + timedelta(seconds=rng.random() * span)
            record = {
                "request_id": f"req_{seed:02d}{i:012d}",
                "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "account_id": f"acct_{acct:08d}",
                "api_key_id": f"key_{acct:08d}_{rng.randrange(2)}",
                "org_id": f"org_{acct // 7:06d}",
                "ip": f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                "country": rng.choice(["US", "DE", "GB", "SG", "BR", "IN"]),
                "asn": rng.randrange(1000, 70000),
                "ip_type": rng.choice(["residential", "business", "hosting", "proxy"]),
                "user_agent": rng.choice(["sdk-python/1.42.0", "sdk-node/1.9.3", "curl/8.5.0"]),
                "client_fingerprint": f"cf_{rng.randrange(500):04x}",
                "model": rng.choice(MODELS),
                "status_code": 200 if rng.random() < 0.98 else 429,
                "input_tokens": rng.randrange(20, 8000),
                "output_tokens": rng.randrange(1, 4000),
                "latency_ms": rng.randrange(200, 60000),
                "category": rng.choice(CATEGORIES),
                "prompt_hash": f"ph_{rng.getrandbits(64):016x}",
                "prompt_simhash": f"{rng.getrandbits(64):016x}",
                "template_hash": f"tpl_{rng.randrange(5000):05d}",
                "system_prompt_hash": f"sp_{rng.randrange(300):04d}",
                "conversation_id": f"conv_{acct:08d}_{rng.randrange(200)}",
                "turn": rng.randrange(1, 12),
                "tool_count": rng.randrange(0, 8),
                "reasoning_requested": rng.random() < 0.1,
                "stream": rng.random() < 0.5,
                "prompt_lang": "en",
            }
            fh.write(orjson.dumps(record) + b"\n")


def admin_conn() -> psycopg.Connection:
    return psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True)


def fresh_database(env: dict) -> None:
    with admin_conn() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


INGEST_CHILD = """
import django, sys, time, resource
django.setup()
from ingest import services
t = time.perf_counter()
run = services.ingest_path(sys.argv[1])
print(run.status, run.loaded, run.duplicates, run.rejected, time.perf_counter() - t,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def run_ingest(path: Path, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", INGEST_CHILD, str(path)], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    status, loaded, dups, rejected, seconds, rss_kb = out.stdout.split()
    assert status == "done", out
    return {"loaded": int(loaded), "seconds": float(seconds), "peak_rss_mb": int(rss_kb) / 1024}


def raw_copy(dsn: str) -> float:
    """COPY the stored rows, from the client, into an empty clone of the request table."""
    with psycopg.connect(dsn, autocommit=True) as conn, tempfile.TemporaryFile() as dump:
        with conn.cursor().copy("COPY (SELECT * FROM request) TO STDOUT") as copy:
            for chunk in copy:
                dump.write(chunk)
        conn.execute("DROP TABLE IF EXISTS raw_request")
        conn.execute("CREATE TABLE raw_request (LIKE request INCLUDING DEFAULTS) PARTITION BY RANGE (ts)")
        parts = conn.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'request'::regclass").fetchall()
        for name, bound in parts:
            conn.execute(f"CREATE TABLE raw_{name} PARTITION OF raw_request {bound}")
        # The same indexes as the request table, whatever they are today.
        for (definition,) in conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'request'").fetchall():
            name = definition.split(" INDEX ", 1)[1].split(" ON ", 1)[0]
            # pg_indexes shows a partitioned index as "ON ONLY parent", which would build it on the
            # parent alone; without ONLY it is built on every partition, as the request table's are.
            conn.execute(definition.replace(f" {name} ON ", f" raw_{name} ON ").replace(" ON ONLY public.request ",
                         " ON public.raw_request ").replace(" ON public.request ", " ON public.raw_request "))
        conn.execute("CHECKPOINT")
        dump.seek(0)
        started = time.perf_counter()
        with conn.transaction(), conn.cursor().copy("COPY raw_request FROM STDIN") as copy:
            while chunk := dump.read(1 << 20):
                copy.write(chunk)
        return time.perf_counter() - started


def measure(rows: int, env: dict) -> dict:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"requests-bench-{rows}.jsonl.gz"
    if not path.exists():
        print(f"building {path.name} ...", flush=True)
        build_file(path, rows)
    fresh_database(env)
    with admin_conn() as conn:
        conn.execute("CHECKPOINT")
    ingest = run_ingest(path, env)
    copy_seconds = raw_copy(env["DATABASE_URL"])
    result = {"rows": rows, "file_mb": path.stat().st_size / 1e6, **ingest, "copy_seconds": copy_seconds}
    result["ratio"] = result["seconds"] / copy_seconds
    print(result, flush=True)
    return result


def write_results(results: list[dict], out: Path) -> None:
    lines = [
        "# Ingest benchmark",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on this machine ({os.cpu_count()} cores), "
        "`.venv/bin/python bench/ingest.py`.",
        "Ingest = parse + validate + dedup + sessions + rollups of a `.jsonl.gz`, one transaction; raw COPY = "
        "the same stored rows copied from the client into an empty copy of the request table (same monthly "
        "partitions, same indexes), measured right after in the same run.",
        "",
        "| rows | file MB | ingest s | rows/s | raw COPY s | ingest / COPY | peak RSS MB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(f"| {r['rows']:,} | {r['file_mb']:.0f} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | "
                     f"{r['copy_seconds']:.1f} | {r['ratio']:.2f}x | {r['peak_rss_mb']:.0f} |")
    if len(results) >= 2:
        a, b = results[0], results[-1]
        lines += ["", f"Growth: {b['rows'] / a['rows']:.1f}x the rows cost {b['seconds'] / a['seconds']:.2f}x the time "
                      "(target: 2x rows for at most 2.2x time)."]
    out.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[2_000_000, 4_000_000])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ingest.md")
    args = parser.parse_args()
    env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
           "DJANGO_SETTINGS_MODULE": "copycat.settings"}
    results = [measure(rows, env) for rows in args.rows]
    write_results(results, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
