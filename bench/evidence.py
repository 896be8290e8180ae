"""Benchmark: evidence packet for the largest campaign of a generated world, at two sizes.

    python manage.py generate_traffic --out /tmp/ev-demo --preset demo
    python manage.py ingest /tmp/ev-demo
    python bench/evidence.py --truth /tmp/ev-demo/ground_truth.json [--fractions 0.25,1]

Creates (or reuses) one campaign per size from the ground truth's largest campaign (the first
N of its accounts), then builds each packet in a fresh process and reports wall time, peak RSS
(ru_maxrss of that process), sizes and the seconds of each phase of the build. Memory should
not grow with the campaign: the requests file streams from COPY into gzip, and everything else
reads rollups or small tables.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "copycat.settings")


def _setup():
    import django

    django.setup()


def make_campaign(truth: Path, fraction: float) -> int:
    from accounts.models import Account
    from campaigns.models import Campaign, Membership
    from campaigns.services import refresh_figures

    data = json.loads(truth.read_text())
    largest = max(data["campaigns"], key=lambda c: c["requests"])
    ids = sorted(largest["accounts"])[: max(1, int(len(largest["accounts"]) * fraction))]
    name = f"bench {data['preset']} campaign {largest['id']} x{fraction:g}"
    campaign, created = Campaign.objects.get_or_create(name=name, defaults={"summary": largest["description"],
                                                                             "attribution": "Bench lab"})
    if created:
        pks = Account.objects.filter(account_id__in=ids).values_list("pk", flat=True)
        Membership.objects.bulk_create([Membership(campaign=campaign, account_id=pk, source="detection",
                                                   confidence=0.9) for pk in pks], batch_size=5000)
        refresh_figures(campaign)
    return campaign.pk


def build_one(campaign_id: int, out: Path) -> dict:
    from campaigns.evidence import service

    marks: list[tuple[str, float]] = []

    def progress(phase: str, fraction: float) -> None:
        if not marks or marks[-1][0] != phase:
            marks.append((phase, time.perf_counter()))

    start = time.perf_counter()
    manifest = service.build_packet(campaign_id, out, progress=progress)
    seconds = time.perf_counter() - start
    marks.append(("end", time.perf_counter()))
    # Seconds from each phase's first progress report to the next phase's (the build's own order).
    phases = {phase: round(t2 - t1, 1) for (phase, t1), (_, t2) in zip(marks, marks[1:], strict=False)}
    sizes = {f["path"]: f["size"] for f in manifest["files"]}
    with zipfile.ZipFile(out) as zf:
        raw = sum(i.file_size for i in zf.infolist())
    return {"campaign": campaign_id, "members": manifest["campaign"]["member_accounts"],
            "requests": manifest["campaign"]["requests"], "seconds": round(seconds, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "zip_mb": round(out.stat().st_size / 2**20, 1), "requests_gz_mb": round(sizes["requests.csv.gz"] / 2**20, 1),
            "content_mb": round(raw / 2**20, 1), "phases": phases}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--truth", type=Path, default=Path("/tmp/ev-demo/ground_truth.json"))
    parser.add_argument("--fractions", default="0.25,1")
    parser.add_argument("--out", type=Path, default=Path("/tmp/ev-bench"))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    _setup()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.one:
        print(json.dumps(build_one(args.one, args.out / f"packet-{args.one}.zip")))
        return
    for fraction in (float(f) for f in args.fractions.split(",")):
        cid = make_campaign(args.truth, fraction)
        # a fresh process per packet, so each peak RSS is that packet's alone
        out = subprocess.run([sys.executable, __file__, "--one", str(cid), "--out", str(args.out)],
                             capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        phases = ", ".join(f"{name} {sec:g}" for name, sec in result["phases"].items() if sec >= 0.5)
        print(f"| {fraction:g} | {result['members']:,} | {result['requests']:,} | {result['seconds']} | "
              f"{result['peak_rss_mb']} | {result['requests_gz_mb']} | {result['zip_mb']} | {phases} |", flush=True)


if __name__ == "__main__":
    main()
