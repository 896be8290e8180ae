"""generate(): build the world, write every file, write ground_truth.json.

Days are cut into chunks of at most `part_rows` requests; chunks are made by a pool of
worker processes and written straight to disk, so memory depends on the chunk size, not on
the preset's scale.  Workers are spawned, not forked (Arrow's threads make fork unsafe), and
each rebuilds the world from (preset, seed): it is deterministic and takes about a second.  Results come back in chunk order, and every chunk
is deterministic on its own, so the output does not depend on the number of workers.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

from .account_files import write_account_files
from .presets import WINDOW_DAYS, get_preset
from .traffic import chunk_columns, to_table
from .truth import ground_truth
from .world import World, build_world, day_name, day_start_ms
from .writers import write_requests

TRUTH = "ground_truth.json"
_WORLD: World | None = None  # the world this process generates chunks of


class OutputDirError(ValueError):
    """The output directory holds files that this simulator did not write."""


def prepare_out_dir(out: Path) -> None:
    """Create `out`, or clear a previous simulator run from it; refuse anything else."""
    out.mkdir(parents=True, exist_ok=True)
    entries = list(out.iterdir())
    if not entries:
        return
    ours = [p for p in entries if p.is_file() and (
        p.name == TRUTH or p.name.startswith(("accounts-", "requests-")))]
    if (out / TRUTH).exists() and len(ours) == len(entries):
        for path in ours:
            path.unlink()
        return
    raise OutputDirError(
        f"{out} is not empty and is not a previous simulator output: choose an empty or new "
        "directory")


def chunks(world: World) -> list[tuple[int, int, int]]:
    """(day, part, parts) for every chunk of the window."""
    out = []
    for day in range(WINDOW_DAYS):
        total = sum(int(g.per_day[day]) for g in world.groups)
        parts = max(1, math.ceil(total / world.preset.part_rows))
        out.extend((day, part, parts) for part in range(parts))
    return out


def file_name(world: World, day: int, part: int, parts: int) -> tuple[str, str]:
    encodings = world.preset.encodings
    encoding = encodings[day % len(encodings)]
    suffix = f"-p{part + 1:02d}" if parts > 1 else ""
    return f"requests-{day_name(day)}{suffix}.{encoding}", encoding


def make_chunk(task: tuple[int, int, int, str]) -> dict:
    """Generate and write one chunk; return its per-group counts and first timestamps."""
    day, part, parts, out = task
    world = _WORLD
    groups = len(world.groups)
    counts = np.zeros(groups, np.int64)
    first = np.full(groups, np.iinfo(np.int64).max)
    name, encoding = file_name(world, day, part, parts)
    cols = chunk_columns(world, day, part, parts)
    if cols is None:
        return {"name": None, "counts": counts, "first": first}
    counts += np.bincount(cols["group"], minlength=groups)
    present = np.unique(cols["group"])
    first_index = np.searchsorted(cols["group"][np.lexsort((cols["ms"], cols["group"]))],
                                  present)
    ordered_ms = cols["ms"][np.lexsort((cols["ms"], cols["group"]))]
    first[present] = day_start_ms(day) + ordered_ms[first_index]
    table = to_table(world, day, part, cols)
    write_requests(table, Path(out) / name, encoding, day_name(day), day_start_ms(day))
    return {"name": name, "day": day_name(day), "records": table.num_rows, "counts": counts,
            "first": first}


def generate(out_dir: str | Path, preset: str = "demo", seed: int = 1, scale: float = 1.0,
             progress: Callable[[str], None] | None = None, workers: int | None = None) -> dict:
    """Write a simulated world into `out_dir`; return a summary (counts, files, seconds).

    Same (preset, seed, scale) gives the same bytes in every file.
    """
    global _WORLD
    say = progress or (lambda message: None)
    started = time.perf_counter()
    out = Path(out_dir)
    spec = get_preset(preset, scale)
    prepare_out_dir(out)
    world = build_world(spec, seed)
    say(f"world: {world.size} accounts in {len(world.groups)} groups "
        f"({time.perf_counter() - started:.1f}s)")
    files = write_account_files(world, out)
    tasks = [(d, p, n, str(out)) for d, p, n in chunks(world)]
    _WORLD = world  # for the single-process path
    counts = np.zeros(len(world.groups), np.int64)
    first = np.full(len(world.groups), np.iinfo(np.int64).max)
    workers = workers or spec.workers
    done = 0
    total = sum(int(g.requests) for g in world.groups)
    try:
        with _pool(workers, spec, seed) as pool:
            results = pool.imap(make_chunk, tasks) if pool else map(make_chunk, tasks)
            for result in results:
                counts += result["counts"]
                first = np.minimum(first, result["first"])
                if result["name"]:
                    done += result["records"]
                    files.append({"name": result["name"], "kind": "requests",
                                  "records": result["records"], "day": result["day"]})
                    say(f"{result['name']}: {result['records']} requests "
                        f"({done}/{total}, {time.perf_counter() - started:.0f}s)")
    finally:
        _WORLD = None
    truth = ground_truth(world, counts, first, files)
    (out / TRUTH).write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2) + b"\n")
    seconds = time.perf_counter() - started
    return {"out": str(out), "preset": spec.name, "seed": seed, "scale": spec.scale,
            "accounts": world.size, "requests": int(counts.sum()), "files": len(files) + 1,
            "seconds": round(seconds, 2), "records_per_second": round(int(counts.sum()) / seconds)}


class _NoPool:
    def __enter__(self):
        return None

    def __exit__(self, *exc) -> None:
        return None


def _init_worker(spec, seed: int) -> None:
    global _WORLD
    _WORLD = build_world(spec, seed)


def _pool(workers: int, spec, seed: int):
    if workers <= 1:
        return _NoPool()
    context = multiprocessing.get_context("spawn")
    return context.Pool(workers, initializer=_init_worker, initargs=(spec, seed))
