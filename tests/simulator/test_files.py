"""The files themselves: valid under the log format, deterministic, well split."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ingest.simulator import OutputDirError, generate, presets
from ingest.validation import validate_record


def _digests(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


def _records(path: Path):
    """(kind, obj, source) for every record, read with the standard library and pyarrow."""
    kind = "accounts" if path.name.startswith("accounts") else "requests"
    name = path.name
    if name.endswith(".parquet"):
        for row in pq.read_table(path).to_pylist():
            yield kind, row, "parquet"
    elif ".csv" in name:
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                yield kind, row, "csv"
    else:
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield kind, json.loads(line), "json"


def test_every_record_validates_against_the_log_format(tiny):
    seen = {"accounts": 0, "requests": 0}
    encodings = set()
    for path in sorted(tiny.path.glob("*")):
        if path.name == "ground_truth.json":
            continue
        encodings.add(path.name.split(".", 1)[1])
        for kind, obj, source in _records(path):
            row, field, reason = validate_record(kind, obj, source)
            assert row is not None, f"{path.name}: {field}: {reason}: {obj}"
            seen[kind] += 1
    assert seen["requests"] == tiny.truth["totals"]["requests"]
    assert seen["accounts"] >= tiny.truth["totals"]["accounts"]  # plus status updates
    assert {"jsonl", "jsonl.gz", "csv.gz", "parquet"} <= encodings


def test_same_seed_gives_identical_files(tiny, tmp_path):
    again = tmp_path / "again"
    generate(again, "tiny", seed=1)
    assert _digests(again) == _digests(tiny.path)


def test_different_seed_gives_different_files(tiny, tmp_path):
    other = tmp_path / "other"
    generate(other, "tiny", seed=2)
    mine, theirs = _digests(tiny.path), _digests(other)
    assert not [n for n in mine if n != "ground_truth.json" and mine[n] == theirs.get(n)]


def test_big_days_are_split_into_parts_and_worker_count_does_not_change_bytes(tmp_path,
                                                                              monkeypatch):
    small_parts = presets.replace(presets.PRESETS["tiny"], part_rows=300)
    monkeypatch.setitem(presets.PRESETS, "tiny", small_parts)
    one, two = tmp_path / "one", tmp_path / "two"
    summary = generate(one, "tiny", seed=3, workers=1)
    generate(two, "tiny", seed=3, workers=2)
    assert _digests(one) == _digests(two)
    parts = sorted(p.name for p in one.glob("requests-2026-04-22-p*"))
    assert len(parts) >= 2 and parts[0].startswith("requests-2026-04-22-p01.")
    truth = json.loads((one / "ground_truth.json").read_text())
    assert sum(f["records"] for f in truth["files"] if f["kind"] == "requests") == summary["requests"]


def test_account_updates_come_after_the_sign_ups_they_update(tiny):
    names = sorted(p.name for p in tiny.path.glob("accounts*"))
    assert names[0] == "accounts-0000-initial.csv.gz"
    created_in: dict[str, str] = {}
    for name in names:
        for _, record, _ in _records(tiny.path / name):
            if "email" in record and record.get("email"):
                created_in[record["account_id"]] = name
            elif record.get("status") in ("suspended", "closed"):
                assert created_in[record["account_id"]] < name


def test_an_output_dir_holding_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputDirError, match="not a previous simulator output"):
        generate(tmp_path, "tiny")


def test_a_previous_run_is_replaced(tiny, tmp_path):
    target = tmp_path / "run"
    generate(target, "tiny", seed=2)
    generate(target, "tiny", seed=1)
    assert _digests(target) == _digests(tiny.path)
