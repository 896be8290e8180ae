"""API latency under concurrency: p50/p95/p99 of the main list and detail endpoints against a
trivial baseline (/api/v1/health/) measured in the same run.

    DATABASE_URL=... python bench/api.py --truth /tmp/api-demo/ground_truth.json \
        [--workers 3] [--clients 50] [--seconds 20] [--port 8765] [--only TEXT] [--each SECONDS]

With the demo world loaded (generate_traffic --preset demo, ingest). If no campaign exists
(detection not run), campaigns are made from the ground truth through the same service an
analyst uses (link_account), so members, figures and the audit trail are real. The app runs
under gunicorn (sync workers) on loopback; clients are threads with keep-alive connections,
each hitting every endpoint in turn. Client and server share the machine's cores. ``--each``
then loads each endpoint alone for that many seconds (its own cost, without the mix).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "copycat.settings")


def setup(truth: Path | None) -> dict:
    import django

    django.setup()
    import io

    from django.core.management import call_command

    from accounts.models import Account
    from campaigns import services
    from campaigns.models import Campaign
    from copycat import roles
    out = io.StringIO()
    call_command("create_user", "bench-lead", "--role", roles.LEAD, "--token", stdout=out, stderr=io.StringIO())
    token = out.getvalue().strip()
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="bench-lead")
    if not Campaign.objects.exists() and truth:
        for planted in json.loads(truth.read_text())["campaigns"]:
            campaign = Campaign.objects.create(name=f"Planted {planted['id']}", score=len(planted["accounts"]))
            for account in Account.objects.filter(account_id__in=planted["accounts"][:300]):
                services.link_account(campaign, account, user=user, reason="bench: from ground truth")
    campaign = Campaign.objects.order_by("-member_count").first()
    account = (Account.objects.filter(memberships__campaign=campaign, memberships__active=True)
               .order_by("-request_count").first())
    return {"token": token, "campaign": campaign.pk, "account": account.account_id}


def endpoints(ids: dict) -> dict[str, str]:
    c, a = ids["campaign"], ids["account"]
    return {
        "baseline: health": "/api/v1/health/",
        "list: accounts": "/api/v1/accounts/",
        "list: accounts ?status&country": "/api/v1/accounts/?status=active&country=US",
        "list: campaigns": "/api/v1/campaigns/",
        "list: campaign members": f"/api/v1/campaigns/{c}/members/",
        "list: account requests (keyset)": f"/api/v1/accounts/{a}/requests/",
        "list: ingest runs": "/api/v1/ingest/runs/",
        "list: audit": "/api/v1/audit/",
        "detail: account (with 7-day timeline)": f"/api/v1/accounts/{a}/",
        "detail: campaign": f"/api/v1/campaigns/{c}/",
        "timeline: account hourly by category": f"/api/v1/accounts/{a}/timeline/?by=category",
        "timeline: campaign hourly by category": f"/api/v1/campaigns/{c}/timeline/?by=category",
        "timeline: campaign daily by model": f"/api/v1/campaigns/{c}/timeline/?bucket=day&by=model",
    }


def client(port: int, token: str, paths: list[tuple[str, str]], stop: float, results: dict, errors: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Token {token}", "Connection": "keep-alive"}
    order = paths[:]
    random.shuffle(order)
    i = 0
    while time.perf_counter() < stop:
        name, path = order[i % len(order)]
        i += 1
        start = time.perf_counter()
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{name}: {exc}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200:
            errors.append(f"{name}: HTTP {response.status}")
        results[name].append(elapsed)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--truth", type=Path)
    parser.add_argument("--workers", type=int, default=3,
                        help="gunicorn sync workers (3, as the demo runs: on 2 cores 3 did 5-8%% more than 4)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per gunicorn worker; above 1 the gthread worker, which keeps connections "
                             "alive (sync workers close each one after its response)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--only", default="", help="time only the endpoints whose name contains this text")
    parser.add_argument("--each", type=float, default=0,
                        help="then load each endpoint alone for this many seconds (0: skip)")
    args = parser.parse_args()
    ids = setup(args.truth)
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "copycat.wsgi:application", "-b", f"127.0.0.1:{args.port}",
         "-w", str(args.workers), "--threads", str(args.threads), "--keep-alive", "30", "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, "DATABASE_CONN_MAX_AGE": "600"})
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", args.port, timeout=1).request("GET", "/api/v1/health/")
                break
            except OSError:
                time.sleep(0.1)
        paths = [(name, path) for name, path in endpoints(ids).items() if args.only in name]
        warm = {name: [] for name, _ in paths}
        client(args.port, ids["token"], paths * 3, time.perf_counter() + 3, warm, [])
        before = cpu_seconds(server.pid)
        results, errors = load(args, ids["token"], paths, args.seconds)
        spent = {k: v - before.get(k, 0.0) for k, v in cpu_seconds(server.pid).items()}
        alone = {}
        if args.each:
            for one in paths:
                at = cpu_seconds(server.pid)
                res, errs = load(args, ids["token"], [one], args.each)
                used = cpu_seconds(server.pid)
                n = max(len(res[one[0]]), 1)
                alone[one[0]] = (res, errs, {k: (used[k] - at.get(k, 0.0)) / n * 1000 for k in used})
    finally:
        server.terminate()
        server.wait()
    total = sum(len(v) for v in results.values())
    print(f"{args.clients} clients, {args.workers} gunicorn workers x {args.threads} threads, {args.seconds:.0f} s, "
          f"{total} requests "
          f"({total / args.seconds:.0f}/s), {len(errors)} errors {sorted(set(errors))[:5]}")
    print("CPU per request (ms): " + ", ".join(f"{k} {v / max(total, 1) * 1000:.2f}" for k, v in spent.items()))
    print("| endpoint | n | p50 ms | p95 ms | p99 ms |\n| --- | ---: | ---: | ---: | ---: |")
    for name, values in results.items():
        if values:
            print(f"| {name} | {len(values)} | {statistics.median(values):.0f} | {pct(values, 95):.0f} | "
                  f"{pct(values, 99):.0f} |")
    if alone:
        print(f"\nEach endpoint alone under {args.clients} clients, {args.each:.0f} s each:")
        print("| endpoint | requests/s | p50 ms | p95 ms | p99 ms | errors | CPU ms/request: gunicorn / PostgreSQL |\n"
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, (res, errs, cpu) in alone.items():
            values = res[name]
            if values:
                print(f"| {name} | {len(values) / args.each:.0f} | {statistics.median(values):.0f} | "
                      f"{pct(values, 95):.0f} | {pct(values, 99):.0f} | {len(errs)} | "
                      f"{cpu['gunicorn']:.2f} / {cpu['postgresql']:.2f} |")


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the gunicorn workers, PostgreSQL's processes and this client:
    CPU per request is steadier than latency on a shared host, where other tenants' load moves
    the queue (dead processes drop out, so read it over a span where none start or stop)."""
    import psutil

    def used(procs) -> float:
        total = 0.0
        for proc in procs:
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return total

    postgres = [p for p in psutil.process_iter(["name"]) if p.info["name"] in ("postgres", "postmaster")]
    return {"gunicorn": used(psutil.Process(server_pid).children()), "postgresql": used(postgres),
            "client": used([psutil.Process()])}


def load(args, token: str, paths: list[tuple[str, str]], seconds: float) -> tuple[dict, list]:
    """``args.clients`` clients, each hitting ``paths`` in turn (own random order) for ``seconds``."""
    results: dict[str, list[float]] = {name: [] for name, _ in paths}
    errors: list[str] = []
    stop = time.perf_counter() + seconds
    threads = [threading.Thread(target=client, args=(args.port, token, paths, stop, results, errors))
               for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors

if __name__ == "__main__":
    main()
