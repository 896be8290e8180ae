"""Benchmark the traffic simulator: records per second and peak memory per preset.

    python bench/simulator.py [--seed-preset] [--out-root /tmp] [--keep]

Each preset runs in its own child process so that its peak RSS (ru_maxrss of the child and
of its worker processes) is measured alone.  Results go to bench/results/simulator.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "simulator.md"
CHILD = """
import json, resource, sys
sys.path.insert(0, {root!r})
from ingest.simulator import generate
summary = generate({out!r}, {preset!r}, seed=1)
summary["rss_self_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
summary["rss_workers_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps(summary))
"""


def run(preset: str, out_root: Path, keep: bool) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"sim-{preset}-", dir=out_root))
    started = time.perf_counter()
    code = CHILD.format(root=str(ROOT), out=str(out), preset=preset)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    summary["wall_seconds"] = round(time.perf_counter() - started, 1)
    summary["disk_mb"] = round(sum(p.stat().st_size for p in out.iterdir()) / 2**20)
    if not keep:
        shutil.rmtree(out)
    return summary


def report(rows: list[dict]) -> str:
    lines = [
        "# Simulator benchmark",
        "",
        (f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
         f"run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `python bench/simulator.py"
         f"{' --seed-preset' if any(r['preset'] == 'seed' for r in rows) else ''}`."),
        "",
        ("| preset | accounts | requests | files | wall s | records/s | peak RSS parent MB "
         "| peak RSS one worker MB | on disk MB |"),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['preset']} | {r['accounts']:,} | {r['requests']:,} | {r['files']} | "
            f"{r['wall_seconds']} | {r['records_per_second']:,} | {r['rss_self_mb']:.0f} | "
            f"{r['rss_workers_mb']:.0f} | {r['disk_mb']:,} |")
    lines += [
        "",
        ("records/s counts request records over the whole run (world building and account files "
         "included). Peak RSS is `ru_maxrss`: the parent holds the world; each worker holds the "
         "world plus one chunk (at most `part_rows` requests), so memory does not grow with the "
         "preset's scale. The `seed` target is under 15 minutes."),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed-preset", action="store_true", help="also run the seed preset")
    parser.add_argument("--out-root", default=tempfile.gettempdir())
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    presets = ["tiny", "demo"] + (["seed"] if args.seed_preset else [])
    rows = []
    for preset in presets:
        rows.append(run(preset, Path(args.out_root), args.keep))
        print(json.dumps(rows[-1]), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report(rows))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
