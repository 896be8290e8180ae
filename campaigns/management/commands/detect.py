"""python manage.py detect [--since T] [--until T]: run detection in the foreground."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from campaigns.detection.service import run_detection


def _when(value: str | None):
    if value is None:
        return None
    parsed = parse_datetime(value)
    if parsed is None or parsed.tzinfo is None:
        raise CommandError(f"{value!r} is not an RFC 3339 timestamp with an offset (e.g. 2026-04-01T00:00:00Z).")
    return parsed


class Command(BaseCommand):
    requires_system_checks: list = []  # a detection run must not depend on URL and API configuration
    help = "Find suspected distillation campaigns and reconcile them with existing ones."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="only traffic at or after this time (RFC 3339)")
        parser.add_argument("--until", help="only traffic before this time (RFC 3339)")

    def handle(self, *args, **options):
        run = run_detection(since=_when(options["since"]), until=_when(options["until"]))
        c = run.counts
        self.stdout.write(
            f"detection run {run.pk}: {run.status} in {run.timings.get('total', 0):.1f}s; "
            f"{c.get('accounts', 0)} accounts, {c.get('values', 0)} shared values, {c.get('links', 0)} links, "
            f"{c.get('clusters', 0)} groups, {c.get('campaigns_found', 0)} scored as campaigns; "
            f"campaigns created {c.get('created', 0)}, updated {c.get('updated', 0)}, members added "
            f"{c.get('added', 0)}, removed {c.get('removed', 0)}")
        self.stdout.write("phases: " + ", ".join(f"{k} {v}s" for k, v in run.timings.items()))
        if c.get("peak_rss_mb"):
            self.stdout.write("peak memory after each phase: "
                              + ", ".join(f"{k} {v:,} MB" for k, v in c["peak_rss_mb"].items()))
