"""python manage.py ingest PATH... [--kind accounts|requests] [--json]"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
from django.core.management.base import BaseCommand, CommandError

from ingest import services
from ingest.formats import detect_kind
from ingest.models import IngestRun


def _expand(paths: list[str]) -> list[str]:
    """A folder stands for the log files in it, by name (accounts and requests files)."""
    files = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files.extend(str(p) for p in sorted(path.rglob("*")) if p.is_file() and detect_kind(p.name))
        else:
            files.append(given)
    return files


def summary(run: IngestRun, given: str) -> dict:
    return {
        "file": given,
        "kind": run.kind or None,
        "status": "done" if run.status == IngestRun.Status.DONE else "failed",
        "reason": run.reason or None,
        "loaded": run.loaded,
        "updated": run.updated,
        "duplicates": run.duplicates,
        "conflicting_duplicates": run.conflicting_duplicates,
        "rejected": run.rejected,
        "rejected_by_reason": run.rejected_by_reason,
        "unknown_fields": run.unknown_fields,
        "blank_lines": run.blank_lines,
        "seconds": round(run.seconds or 0.0, 3),
        "run": run.pk,
    }


class Command(BaseCommand):
    help = "Load log files (accounts or requests; JSON Lines, gzip, CSV, Parquet) in the foreground."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH", help="files, or folders of files, to load in order")
        parser.add_argument("--kind", choices=services.KINDS, help="record kind, when the file name does not say")
        parser.add_argument("--json", action="store_true", help="one JSON object per file on its own line")

    def handle(self, *args, **options):
        files = _expand(options["paths"])
        if not files:
            raise CommandError("no log files found in the given folder(s)", returncode=2)
        failed = 0
        for given in files:
            run = services.ingest_path(given, kind=options["kind"])
            result = summary(run, given)
            failed += result["status"] == "failed"
            self._print(result, options["json"])
        if failed:
            sys.exit(1)

    def _print(self, result: dict, as_json: bool) -> None:
        if as_json:
            self.stdout.write(orjson.dumps(result).decode())
            return
        if result["status"] == "failed":
            self.stdout.write(self.style.ERROR(f"{result['file']}: FAILED ({result['reason']}); nothing loaded"))
            return
        line = (f"{result['file']}: {result['kind']} loaded {result['loaded']}, updated {result['updated']}, "
                f"duplicates {result['duplicates']} ({result['conflicting_duplicates']} conflicting), "
                f"rejected {result['rejected']} in {result['seconds']:.2f}s")
        self.stdout.write(self.style.SUCCESS(line))
        for reason, count in sorted(result["rejected_by_reason"].items(), key=lambda kv: -kv[1]):
            self.stdout.write(f"    rejected {count}: {reason}")
        for name, count in sorted(result["unknown_fields"].items()):
            self.stdout.write(f"    unknown field {name!r} in {count} records")
