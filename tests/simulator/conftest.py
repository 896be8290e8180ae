"""Worlds generated once per test session, and readers that load them back with plain
json / csv / pyarrow (not with the ingest code under test elsewhere)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq
import pytest

from ingest.simulator import generate

COLUMNS = {
    "request_id": pa.string(), "account_id": pa.string(), "org_id": pa.string(),
    "ip": pa.string(), "ip_type": pa.string(), "country": pa.string(), "model": pa.string(),
    "category": pa.string(), "template_hash": pa.string(), "prompt_simhash": pa.string(),
    "reasoning_requested": pa.bool_(), "status_code": pa.int64(),
}


class Generated:
    """A generated directory, its ground truth and its requests as one Arrow table."""

    def __init__(self, path: Path, summary: dict) -> None:
        self.path = path
        self.summary = summary
        self.truth = json.loads((path / "ground_truth.json").read_text())
        self._requests: pa.Table | None = None

    @property
    def requests(self) -> pa.Table:
        if self._requests is None:
            self._requests = pa.concat_tables(
                read_requests(p) for p in sorted(self.path.glob("requests-*")))
        return self._requests

    def campaign(self, cid: str) -> dict:
        return next(c for c in self.truth["campaigns"] if c["id"] == cid)

    def rows_of(self, accounts: list[str]) -> pa.Table:
        table = self.requests
        return table.filter(pc.is_in(table["account_id"], pa.array(accounts)))


def read_requests(path: Path) -> pa.Table:
    """One request file read with pyarrow, reduced to the columns the tests look at."""
    name = path.name
    if name.endswith(".parquet"):
        table = pq.read_table(path)
    elif name.endswith((".csv.gz", ".csv")):
        table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
            strings_can_be_null=True, column_types={"ts": pa.string(), "end_user_id": pa.string(),
                          "template_hash": pa.string(), "prompt_excerpt": pa.string()}))
    else:
        table = pjson.read_json(path)
    ts = table["ts"]
    if pa.types.is_string(ts.type):
        ts = pc.cast(ts, pa.timestamp("ms", tz="UTC"))
    out = {"ts_ms": pc.cast(ts, pa.timestamp("ms", tz="UTC")).cast(pa.int64())}
    for name, kind in COLUMNS.items():
        column = table[name] if name in table.column_names else pa.nulls(table.num_rows, kind)
        out[name] = column.cast(kind)
    return pa.table(out)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Generated:
    path = tmp_path_factory.mktemp("tiny-seed1")
    return Generated(path, generate(path, "tiny", seed=1))


@pytest.fixture(scope="session")
def demo_small(tmp_path_factory) -> Generated:
    """The demo preset at 5%: every population, enough volume for statistics, ~2 seconds."""
    path = tmp_path_factory.mktemp("demo-5pct")
    return Generated(path, generate(path, "demo", seed=7, scale=0.05))


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x = np.bitwise_xor(a, b)
    return np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
