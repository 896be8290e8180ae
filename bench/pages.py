"""Server time of each main page with a world loaded (the `demo` preset).

Run against a database that holds the demo world and detection's campaigns:

    python manage.py generate_traffic --out /tmp/pages-demo --preset demo
    python manage.py ingest /tmp/pages-demo && python manage.py detect
    python bench/pages.py [--runs 20] [--out bench/results/pages.md]

Each page is fetched in-process with Django's test client (server time: URL routing, views,
queries, templates; no network, no browser). The first fetch of each page runs with an empty
cache ("cold"); the rest measure the steady state, p50 and p95. Target: p95 < 300 ms.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "copycat.settings")

import django

django.setup()

from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.models import Account, Request
from campaigns.models import Campaign, Membership


def pages(campaign: Campaign | None = None) -> list[tuple[str, str]]:
    """The main pages and their HTMX fragments, for ``campaign`` (default: the largest)."""
    campaign = campaign or Campaign.objects.order_by("-member_count").first()
    if campaign is None:
        raise SystemExit("No campaigns: run `manage.py detect` first.")
    member = (Account.objects.filter(memberships__campaign=campaign, memberships__active=True)
              .order_by("-request_count").first())
    last = campaign.last_activity
    ip = Request.objects.filter(account_id=member.pk).order_by("-ts").values_list("ip", flat=True).first()
    zoom = {"start": (last.replace(minute=0, second=0, microsecond=0)).isoformat()}
    from datetime import timedelta

    start = last - timedelta(hours=3)
    q = f"?start={start.isoformat().replace('+', '%2B')}&end={last.isoformat().replace('+', '%2B')}"
    del zoom
    return [
        ("overview", reverse("campaigns:overview")),
        ("campaign list", reverse("campaigns:list")),
        ("campaign list, filtered + sorted", reverse("campaigns:list") + "?status=suspected&min_members=10&ordering=-member_count"),
        (f"campaign page (#{campaign.pk}, {campaign.member_count} members)", reverse("campaigns:detail", args=[campaign.pk])),
        ("campaign timeline, by model (HTMX)", reverse("campaigns:timeline", args=[campaign.pk]) + "?by=model"),
        ("campaign timeline zoomed to 3 h (HTMX)", reverse("campaigns:timeline", args=[campaign.pk]) + q),
        ("campaign raw requests, 3 h window (HTMX)", reverse("campaigns:requests", args=[campaign.pk]) + q),
        ("campaign members page 2 (HTMX)", reverse("campaigns:members", args=[campaign.pk]) + "?mpage=2&sort=-requests"),
        ("campaign shared request infrastructure (HTMX)", reverse("campaigns:infra", args=[campaign.pk])),
        ("campaign candidates (HTMX)", reverse("campaigns:candidates", args=[campaign.pk])),
        (f"account page ({member.request_count} requests)", reverse("accounts:detail", args=[member.pk])),
        ("account requests, filtered (HTMX)", reverse("accounts:requests", args=[member.pk]) + "?reasoning=true"),
        ("account neighbours (HTMX)", reverse("accounts:neighbours", args=[member.pk])),
        ("search by IP", reverse("campaigns:search") + f"?q={ip}"),
        ("search by /24", reverse("campaigns:search") + "?q=" + ".".join(str(ip).split(".")[:3])),
        ("ingest page", reverse("ingest:index")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "pages.md"))
    args = parser.parse_args()
    user, _ = User.objects.get_or_create(username="bench_pages")
    user.groups.add(Group.objects.get(name="lead"))
    client = Client()
    client.force_login(user)
    world = {"accounts": Account.objects.count(), "requests": Request.objects.count(),
             "campaigns": Campaign.objects.count(), "memberships": Membership.objects.filter(active=True).count()}
    rows = []
    cache.clear()
    for name, url in pages():
        t0 = time.perf_counter()
        response = client.get(url)
        cold = (time.perf_counter() - t0) * 1000
        assert response.status_code == 200, (name, url, response.status_code)
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        rows.append((name, cold, statistics.median(times), p95, len(response.content)))
        print(f"{name:55s} cold {cold:7.1f} ms  p50 {rows[-1][2]:7.1f}  p95 {p95:7.1f}", flush=True)
    lines = [
        "# Page server times, demo world",
        "",
        (f"World: {world['accounts']:,} accounts, {world['requests']:,} requests, {world['campaigns']} campaigns, "
        f"{world['memberships']:,} active memberships. Machine: {os.cpu_count()} shared cores, "
        f"{platform.python_implementation()} {platform.python_version()}, PostgreSQL on the same host."),
        "",
        (f"`python bench/pages.py --runs {args.runs}`: Django test client in-process (routing, views, queries, "
        "templates; no network or browser). *Cold* is the first fetch with an empty cache; p50/p95 over the "
        f"{args.runs} fetches after it. Charts read the `campaign_hour` and `traffic_hour` rollups on every view "
        "(no cache); the request-level reads (shared traffic values, candidates) load in their own HTMX partials "
        "and are cached for 5 minutes, keyed on the campaign's membership figures. The machine has 2 shared "
        "cores and other jobs (tests, another engineer's detection work) ran on them, so timings are noisy. "
        "Target: p95 < 300 ms."),
        "",
        "| page | cold ms | p50 ms | p95 ms | KiB |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, cold, p50, p95, size in rows:
        flag = "" if p95 < 300 else " (over target)"
        lines.append(f"| {name} | {cold:.0f} | {p50:.0f} | {p95:.0f}{flag} | {size / 1024:.0f} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
