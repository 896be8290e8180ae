"""The whole path at the `seed` preset's scale and at fractions of it (issue #10).

    .venv/bin/python bench/scale.py [--scales 0.0625,0.25,1] [--workers 1] [--compare-workers 0.0625]

For each scale, in a fresh database (`copycat_scale`): generate the world with the simulator,
ingest every file through Celery (a real worker on the `ingest` queue, fed by Redis), run
detection and score it against the ground truth, fill campaign A's read caches from empty as
the detect worker does after detection (the warm-up), time campaign A's pages and API endpoints
(server time, in-process; first load in a fresh process, then repeats), build campaign A's
evidence packet, and last copy the same request rows with raw COPY into an empty clone of the
request table (the ingest's baseline). `--gate FILE` holds a run after ingest until FILE
exists; `--resume` continues the run recorded in the results file. Each stage records wall
time, rows per second, the peak memory of every process it ran (Python processes: RSS; PostgreSQL
backends: private memory, RSS minus shared pages, since shared_buffers is counted once for the
server) and the database size after it. `--compare-workers X` repeats the ingest at scale X with
one and with two worker processes. Results go to bench/results/scale.md (and .json) after every
stage, so an interrupted run still leaves what it measured.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
DB = "copycat_scale"
DSN = f"postgres://postgres@127.0.0.1:5432/{DB}"
BROKER = "redis://127.0.0.1:6379/12"
CACHE = ROOT / "var" / "bench"
RESULTS = ROOT / "bench" / "results"
READING = "## Reading it (written by hand)"


def env() -> dict:
    return {**os.environ, "DATABASE_URL": DSN, "CELERY_BROKER_URL": BROKER,
            "DJANGO_SETTINGS_MODULE": "copycat.settings", "DETECT_AFTER_INGEST": "false",
            "EVIDENCE_DIR": str(CACHE / "scale-packets")}


# --- memory ------------------------------------------------------------------------------------------


class Sampler:
    """Peak memory of a process tree and of PostgreSQL's backends, sampled twice a second."""

    def __init__(self, root_pid: int | None = None, label=lambda p: p.name()) -> None:
        self.root_pid, self.label = root_pid, label
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _note(self, name: str, mb: float) -> None:
        self.peaks[name] = max(self.peaks.get(name, 0.0), mb)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def sample(self) -> None:
        procs = []
        if self.root_pid:
            try:
                root = psutil.Process(self.root_pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                procs = []
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                self._note(self.label(proc), proc.memory_info().rss / 2**20)
        for proc in psutil.process_iter(["name", "username"]):
            try:
                if proc.info["name"] == "postgres" and DB in " ".join(proc.cmdline()):
                    info = proc.memory_info()
                    self._note("postgres backend", (info.rss - info.shared) / 2**20)
            except psutil.Error:
                pass


def run_child(args: list[str], label=None, timeout: float | None = None) -> tuple[float, dict, str]:
    """Run a child process to the end under a sampler: (seconds, peaks, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, env=env(), stdout=subprocess.PIPE, text=True)
    with Sampler(proc.pid, label or (lambda p: "python" if p.pid == proc.pid else f"child {p.name()}")) as sampler:
        out, _ = proc.communicate(timeout=timeout)
    if proc.returncode:
        raise SystemExit(f"{' '.join(args[:4])} failed with exit {proc.returncode}:\n{out[-2000:]}")
    return time.perf_counter() - started, sampler.peaks, out


# --- database ----------------------------------------------------------------------------------------


def admin() -> psycopg.Connection:
    return psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True)


def fresh_database() -> None:
    with admin() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(), check=True)


SHOWN_SETTINGS = ("shared_buffers", "max_wal_size", "checkpoint_timeout", "work_mem", "autovacuum")


def server_settings() -> dict[str, str]:
    with admin() as conn:
        return dict(conn.execute("SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
                                 [list(SHOWN_SETTINGS)]).fetchall())


@contextlib.contextmanager
def applied_settings(pairs: list[str]):
    """Server settings for the run (ALTER SYSTEM, then reload), reset when it ends: a bulk load is
    run with the checkpoint spacing an operator would give it, and the baseline COPY gets the same."""
    names = [pair.split("=", 1)[0] for pair in pairs]
    with admin() as conn:
        for pair in pairs:
            context = conn.execute("SELECT context FROM pg_settings WHERE name = %s", [pair.split("=")[0]]).fetchone()
            if "=" not in pair or context is None or context[0] not in ("sighup", "superuser", "user"):
                raise SystemExit(f"--pg-setting {pair}: not NAME=VALUE for a setting a reload can change")
        for pair in pairs:
            name, value = pair.split("=", 1)
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")
    try:
        yield
    finally:
        with admin() as conn:
            for name in names:
                conn.execute(sql.SQL("ALTER SYSTEM RESET {}").format(sql.Identifier(name)))
            conn.execute("SELECT pg_reload_conf()")


def db_size_mb() -> float:
    with admin() as conn:
        return conn.execute("SELECT pg_database_size(%s)", [DB]).fetchone()[0] / 2**20


def request_rows() -> int:
    with psycopg.connect(DSN) as conn:
        return conn.execute("SELECT count(*) FROM request").fetchone()[0]


def raw_copy_seconds() -> float:
    spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "bench" / "ingest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        return module.raw_copy(DSN)
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS raw_request")


# --- stages ------------------------------------------------------------------------------------------


def generate(scale: float) -> tuple[Path, dict]:
    out = CACHE / f"seed-x{scale:g}"
    timing = out / ".generated.json"
    if timing.exists():
        return out, json.loads(timing.read_text())
    if out.exists():
        subprocess.run(["rm", "-rf", str(out)], check=True)
    seconds, peaks, _ = run_child([PY, "manage.py", "generate_traffic", "--out", str(out), "--preset", "seed",
                                   "--scale", f"{scale:g}", "--quiet"],
                                  label=lambda p: "generate (parent)" if "generate_traffic" in " ".join(p.cmdline())
                                  else "generate worker")
    truth = json.loads((out / "ground_truth.json").read_text())
    stage = {"seconds": seconds, "peaks": peaks, "planted_requests": sum(c["requests"] for c in truth["campaigns"]),
             "files": sum(1 for p in out.iterdir() if not p.name.startswith(".")),
             "disk_mb": sum(p.stat().st_size for p in out.iterdir()) / 2**20}
    timing.write_text(json.dumps(stage))
    return out, stage


ENQUEUE = """
import django, sys, json
django.setup()
from pathlib import Path
from ingest import services
from ingest.formats import detect_kind
from ingest.models import IngestRun
from ingest.tasks import ingest_file
files = sorted(p for p in Path(sys.argv[1]).iterdir() if detect_kind(p.name))
# Account files first, as the billing export usually lands before the gateway logs.
files.sort(key=lambda p: detect_kind(p.name) != "accounts")
ids = [services.create_run(str(p), kind=None, source=IngestRun.Source.TASK).pk for p in files]
for run_id in ids:
    ingest_file.delay(run_id)
print(json.dumps(ids))
"""


def ingest(world: Path, workers: int) -> dict:
    subprocess.run(["redis-cli", "-n", BROKER.rsplit("/", 1)[1], "flushdb"], check=True, capture_output=True)
    worker = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "celery"), "-A", "copycat", "worker", "-Q", "ingest", "-c", str(workers),
         "--prefetch-multiplier", "1", "-l", "warning", "-n", f"scale-{os.getpid()}@%h"],
        cwd=ROOT, env=env(), stdout=subprocess.DEVNULL)
    label = lambda p: "celery worker (main)" if p.pid == worker.pid else "celery worker child"  # noqa: E731
    try:
        started = time.perf_counter()
        with Sampler(worker.pid, label) as sampler:
            out = subprocess.run([PY, "-c", ENQUEUE, str(world)], cwd=ROOT, env=env(), check=True,
                                 capture_output=True, text=True).stdout
            ids = json.loads(out.strip().splitlines()[-1])
            with psycopg.connect(DSN, autocommit=True) as conn:
                while True:
                    rows = dict(conn.execute("SELECT status, count(*) FROM ingest_run WHERE id = ANY(%s) GROUP BY 1",
                                             [ids]).fetchall())
                    if rows.get("done", 0) + rows.get("failed", 0) == len(ids):
                        break
                    if worker.poll() is not None:
                        raise SystemExit(f"celery worker exited with {worker.returncode}")
                    time.sleep(1)
                failed = rows.get("failed", 0)
                totals = conn.execute("SELECT sum(loaded), sum(duplicates), sum(rejected) FROM ingest_run "
                                      "WHERE id = ANY(%s) AND kind = 'requests'", [ids]).fetchone()
        seconds = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait()
    return {"seconds": seconds, "peaks": sampler.peaks, "files": len(ids), "failed": failed,
            "rows": int(totals[0] or 0), "duplicates": int(totals[1] or 0), "rejected": int(totals[2] or 0),
            "workers": workers}


def detect(world: Path) -> tuple[dict, dict]:
    seconds, peaks, _ = run_child([PY, "manage.py", "detect"], label=lambda p: "detect")
    _, _, out = run_child([PY, "manage.py", "evaluate", "--truth", str(world / "ground_truth.json"), "--json"])
    result = json.loads(out)
    return {"seconds": seconds, "peaks": peaks}, {"overall": result["overall"],
                                                  "campaigns": [{k: c[k] for k in ("id", "precision", "recall", "f1")}
                                                                for c in result["campaigns"]]}


CAMPAIGN_A = """
import django, sys, json
django.setup()
from campaigns.models import Membership
truth = json.load(open(sys.argv[1]))
a = next(c for c in truth["campaigns"] if c["id"] == "A")
from collections import Counter
hits = Counter(Membership.objects.filter(active=True, account__account_id__in=a["accounts"])
               .values_list("campaign_id", flat=True))
campaign_id, members = hits.most_common(1)[0]
print(json.dumps({"campaign": campaign_id, "planted": len(a["accounts"]), "matched": members}))
"""

SERVER_TIMES = """
import os, sys, json, time, random, statistics, importlib.util
sys.path.insert(0, os.getcwd())
import django
django.setup()
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from accounts.models import Account
from campaigns.models import Campaign
campaign = Campaign.objects.get(pk=int(sys.argv[1]))
def load(name):
    spec = importlib.util.spec_from_file_location("bench_" + name, os.path.join("bench", name + ".py"))
    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); return module
pages = load("pages").pages(campaign)
members = list(Account.objects.filter(memberships__campaign=campaign, memberships__active=True)
               .order_by("-request_count").values_list("pk", flat=True))
rng = random.Random(1)
middle = len(members) // 2
sample = sorted(set(members[:3] + members[middle:middle + 1] + rng.sample(members, min(16, len(members)))))
# The neighbours fragment is the account page's costliest read (its /24 probe reads those
# networks' requests in the window): it is timed for the busiest, the middle and four sampled members.
probed = set(members[:3] + members[middle:middle + 1] + sample[:4])
for pk in sample:
    pages.append((f"account page #{pk}", reverse("accounts:detail", args=[pk])))
    if pk in probed:
        pages.append((f"account neighbours #{pk}", reverse("accounts:neighbours", args=[pk])))
user, _ = User.objects.get_or_create(username="bench_scale")
user.groups.add(Group.objects.get(name="lead"))
client = Client(); client.force_login(user)
def measure(client, url, runs, headers={}):
    t = time.perf_counter(); r = client.get(url, **headers); cold = time.perf_counter() - t
    assert r.status_code == 200, (url, r.status_code, r.content[:300])
    warm = []
    for _ in range(runs):
        t = time.perf_counter(); client.get(url, **headers); warm.append(time.perf_counter() - t)
    return {"cold_ms": cold * 1000, "warm_max_ms": max(warm) * 1000, "warm_p50_ms": statistics.median(warm) * 1000}
out = {"pages": {}, "api": {}}
for name, url in pages:
    out["pages"][name] = measure(client, url, 1 if "neighbours" in name else 3)
from io import StringIO
from django.core.management import call_command
buf = StringIO(); call_command("create_user", "bench_scale_api", "--role", "lead", "--token", stdout=buf)
token = buf.getvalue().strip()
api = load("api").endpoints({"campaign": campaign.pk, "account": Account.objects.get(pk=members[0]).account_id})
for name, url in api.items():
    out["api"][name] = measure(Client(), url, 3, {"HTTP_AUTHORIZATION": f"Token {token}"})
print(json.dumps(out))
"""


WARM = """
import django, sys
django.setup()
from django.core.cache import cache
from campaigns import selectors
from campaigns.models import Campaign
cache.clear()
selectors.warm(Campaign.objects.get(pk=int(sys.argv[1])))
"""


def warm_up(campaign_id: int) -> dict:
    """What the detect worker runs after detection or a membership change (detect_warm_campaign),
    from an empty cache: the pages stage then measures what an analyst opening the campaign meets."""
    seconds, peaks, _ = run_child([PY, "-c", WARM, str(campaign_id)], label=lambda p: "warm-up")
    return {"seconds": seconds, "peaks": peaks}


def server_times(campaign_id: int) -> tuple[dict, dict]:
    seconds, peaks, out = run_child([PY, "-c", SERVER_TIMES, str(campaign_id)], label=lambda p: "pages+api client")
    return {"seconds": seconds, "peaks": peaks}, json.loads(out.strip().splitlines()[-1])


def packet(campaign_id: int, scale: float) -> dict:
    out = CACHE / f"scale-packet-x{scale:g}.zip"
    with PhaseWatch() as phases:
        seconds, peaks, _ = run_child([PY, "manage.py", "export_packet", str(campaign_id), "--out", str(out)],
                                      label=lambda p: "export_packet")
    return {"seconds": seconds, "peaks": peaks, "zip_mb": out.stat().st_size / 2**20, "phases": phases.seconds()}


class PhaseWatch:
    """Seconds from the start to the first sight of each phase of the newest evidence packet,
    polled once a second from its row (the build writes its phase at most every 2 s)."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PhaseWatch:
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with psycopg.connect(f"postgres://postgres@127.0.0.1:5432/{DB}", autocommit=True) as conn:
            first = conn.execute("SELECT coalesce(max(id), 0) FROM evidence_packet").fetchone()[0]
            while not self._stop.wait(1.0):
                row = conn.execute("SELECT phase FROM evidence_packet WHERE id > %s ORDER BY id DESC LIMIT 1",
                                   [first]).fetchone()
                if row and row[0] not in self.seen:
                    self.seen[row[0]] = round(time.perf_counter() - self._started, 1)

    def seconds(self) -> dict[str, float]:
        """Each phase's duration: from its first sight to the next phase's."""
        marks = sorted(self.seen.items(), key=lambda kv: kv[1])
        return {name: round(nxt - at, 1) for (name, at), (_, nxt) in zip(marks, marks[1:], strict=False)}


# --- the run -----------------------------------------------------------------------------------------


GATE: Path | None = None


def wait_for_gate() -> None:
    """Hold the run after ingest until GATE exists: the later stages run in child processes, so a
    long ingest can proceed while the code they measure is still being finished."""
    if GATE is None:
        return
    print(f"ingest done; waiting for {GATE} before detection", flush=True)
    while not GATE.exists():
        time.sleep(5)


def run_scale(scale: float, workers: int, record, result: dict | None = None) -> None:
    """All stages of one scale; with ``result`` (a resumed run), only the stages it does not hold."""
    world, gen = generate(scale)
    if result is None:
        result = {"scale": scale, "stages": {}}
        record(result)
        result["stages"]["generate"] = gen
        fresh_database()
        result["stages"]["ingest"] = ingest(world, workers)
        result["stages"]["ingest"]["db_mb"] = db_size_mb()
        result["rows"] = gen["rows"] = request_rows()
        record(result)
        wait_for_gate()
    stages = result["stages"]
    # The baseline comes last: it only serves the ingest ratio, and copies into its own empty
    # table, so its time does not depend on the order; a session that runs out of time loses it first.
    if "detect" not in stages:
        stages["detect"], result["detection"] = detect(world)
        stages["detect"]["db_mb"] = db_size_mb()
        record(result)
    if "campaign_a" not in result:
        _, _, out = run_child([PY, "-c", CAMPAIGN_A, str(world / "ground_truth.json")])
        result["campaign_a"] = json.loads(out.strip().splitlines()[-1])
    campaign = result["campaign_a"]["campaign"]
    # The packet before the page timings: a session that runs out of time keeps the packet's figure.
    if "evidence packet (campaign A)" not in stages:
        stages["evidence packet (campaign A)"] = packet(campaign, scale)
        stages["evidence packet (campaign A)"]["db_mb"] = db_size_mb()
        record(result)
    if "warm-up (campaign A)" not in stages:
        stages["warm-up (campaign A)"] = warm_up(campaign)
        record(result)
    if "pages + API (campaign A)" not in stages:
        stages["pages + API (campaign A)"], result["server_times"] = server_times(campaign)
        record(result)
    if "raw COPY (baseline)" not in stages:
        stages["raw COPY (baseline)"] = {"seconds": raw_copy_seconds(), "rows": result["rows"], "peaks": {}}
        record(result)


def compare_workers(scale: float, counts: tuple[int, ...], record) -> list[dict]:
    world, _ = generate(scale)
    runs: list[dict] = []
    for workers in counts:
        fresh_database()
        runs.append(ingest(world, workers))
        record({"compare_workers": {"scale": scale, "runs": runs}})
    return runs


# --- the results file --------------------------------------------------------------------------------


def _peaks(peaks: dict) -> str:
    return ", ".join(f"{name} {mb:,.0f}" for name, mb in sorted(peaks.items(), key=lambda kv: -kv[1])) or "-"


def render(state: dict, command: str) -> str:
    lines = ["# The whole path at fractions of the `seed` preset (bench/scale.py)", "",
             f"`{command}`, {state['started']} UTC, this machine ({os.cpu_count()} cores, "
             f"load average at start {state['load']}). Peak memory in MB per process (PostgreSQL backends: "
             "private memory). Each scale runs in a fresh database."
             + (" PostgreSQL ran with " + ", ".join(f"{k} {v}" for k, v in state["settings"].items())
                + (f" (set for the run: `{' '.join(state['set_for_run'])}`)" if state.get("set_for_run") else "")
                + "." if state.get("settings") else "")
             + (f" Resumed at {', '.join(state['resumed'])} UTC (`--resume`)." if state.get("resumed") else ""),
             ""]
    for res in state["scales"]:
        lines += [f"## scale {res['scale']:g} ({res.get('rows', 0):,} requests)", "",
                  "| stage | wall s | rows/s | peak memory MB | database MB after |",
                  "| --- | ---: | ---: | --- | ---: |"]
        for name, st in res["stages"].items():
            rows = st.get("rows") or res.get("rows")
            rate = f"{rows / st['seconds']:,.0f}" if rows and name in ("generate", "ingest", "raw COPY (baseline)",
                                                                        "detect") else ""
            db = f"{st['db_mb']:,.0f}" if "db_mb" in st else ""
            lines.append(f"| {name} | {st['seconds']:,.1f} | {rate} | {_peaks(st.get('peaks', {}))} | {db} |")
        st = res["stages"]
        if "raw COPY (baseline)" in st:
            lines += ["", f"Ingest / raw COPY: {st['ingest']['seconds'] / st['raw COPY (baseline)']['seconds']:.1f}x "
                          f"({st['ingest']['files']} files, {st['ingest']['workers']} worker process(es), "
                          f"{st['ingest']['failed']} failed, {st['ingest']['rejected']:,} rejected records)."]
        if "detection" in res:
            o = res["detection"]["overall"]
            lines += [f"Detection against the ground truth: precision {o['precision']:.3f}, recall {o['recall']:.3f}, "
                      "per planted campaign F1 "
                      + ", ".join(f"{c['id']} {c['f1']:.2f}" for c in res["detection"]["campaigns"]) + "."]
        if "server_times" in res:
            pages, api = res["server_times"]["pages"], res["server_times"]["api"]
            worst = max(pages.items(), key=lambda kv: max(kv[1]["cold_ms"], kv[1]["warm_max_ms"]))
            lines += [f"Campaign A is campaign #{res['campaign_a']['campaign']} ({res['campaign_a']['matched']:,} of "
                      f"{res['campaign_a']['planted']:,} planted accounts). {len(pages)} pages and fragments "
                      f"(campaign A's, and {sum(1 for n in pages if n.startswith('account page'))} of its accounts): "
                      f"slowest {worst[0]} first load {worst[1]['cold_ms']:,.0f} ms / then at most "
                      f"{worst[1]['warm_max_ms']:,.0f} ms.", "",
                      "| API endpoint (campaign A, its busiest account) | first ms | then max ms |",
                      "| --- | ---: | ---: |"]
            lines += [f"| {n} | {t['cold_ms']:,.0f} | {t['warm_max_ms']:,.0f} |" for n, t in api.items()]
            lines += ["", "| page or fragment | first ms | then max ms |", "| --- | ---: | ---: |"]
            lines += [f"| {n} | {t['cold_ms']:,.0f} | {t['warm_max_ms']:,.0f} |" for n, t in pages.items()]
        if "evidence packet (campaign A)" in st:
            pk = st["evidence packet (campaign A)"]
            phases = ", ".join(f"{name} {sec:,.0f}" for name, sec in pk.get("phases", {}).items())
            lines += ["", f"Evidence packet: {pk['zip_mb']:,.0f} MB ZIP."
                      + (f" Seconds per phase (as its row showed them): {phases}." if phases else "")]
        lines.append("")
    done = [r for r in state["scales"] if "evidence packet (campaign A)" in r["stages"]]
    if len(done) >= 2:
        a, b = done[0], done[-1]
        factor = b["rows"] / a["rows"]
        lines += [f"## Growth from scale {a['scale']:g} to {b['scale']:g} ({factor:.1f}x the requests)", "",
                  "| stage | time ratio | time ratio / data ratio |", "| --- | ---: | ---: |"]
        for name in a["stages"]:
            if name == "generate" or name not in b["stages"]:
                continue
            ratio = b["stages"][name]["seconds"] / a["stages"][name]["seconds"]
            lines.append(f"| {name} | {ratio:.1f}x | {ratio / factor:.2f} |")
        lines.append("")
    if "compare_workers" in state:
        cw = state["compare_workers"]
        lines += [f"## Ingest with 1 and 2 worker processes (scale {cw['scale']:g})", "",
                  "| workers | wall s | rows/s | peak memory MB |", "| ---: | ---: | ---: | --- |"]
        lines += [f"| {r['workers']} | {r['seconds']:,.1f} | {r['rows'] / r['seconds']:,.0f} | {_peaks(r['peaks'])} |"
                  for r in cw["runs"]]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="0.0625,0.25,1", help="fractions of the seed preset, comma-separated")
    parser.add_argument("--workers", type=int, default=1, help="ingest worker processes")
    parser.add_argument("--compare-workers", type=float, default=None, metavar="SCALE",
                        help="also ingest SCALE with 1 and with 2 worker processes")
    parser.add_argument("--out", type=Path, default=RESULTS / "scale.md")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run recorded in --out's .json: stages it holds are not run again")
    parser.add_argument("--gate", type=Path, default=None, metavar="FILE",
                        help="after each ingest, wait until FILE exists before the later stages")
    parser.add_argument("--pg-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a server setting for the run (ALTER SYSTEM and reload; reset at the end), "
                             "e.g. max_wal_size=8GB")
    args = parser.parse_args()
    with applied_settings(args.pg_setting):
        run(args)
    print(f"wrote {args.out}")


def run(args) -> None:
    global GATE
    GATE = args.gate
    command = "bench/scale.py " + " ".join(sys.argv[1:])
    state = {"started": f"{datetime.now(UTC):%Y-%m-%d %H:%M}", "load": f"{os.getloadavg()[0]:.1f}",
             "scales": [], "settings": server_settings(), "set_for_run": args.pg_setting}
    if args.resume:
        state = json.loads(args.out.with_suffix(".json").read_text())
        state.setdefault("resumed", []).append(f"{datetime.now(UTC):%Y-%m-%d %H:%M}")

    # The hand-written reading of the figures (why a target is missed, what was done) survives a re-run.
    reading = ""
    if args.out.exists() and READING in args.out.read_text():
        reading = READING + args.out.read_text().split(READING, 1)[1]

    def record(update: dict) -> None:
        if "scale" in update and not any(r is update for r in state["scales"]):
            state["scales"].append(update)
        state.update({k: v for k, v in update.items() if k == "compare_workers"})
        args.out.write_text(render(state, command) + ("\n" + reading if reading else ""))
        args.out.with_suffix(".json").write_text(json.dumps(state, indent=1, default=str))

    scales = [float(s) for s in args.scales.split(",")]
    compared: list[dict] = []
    if args.compare_workers:
        # The main run of the same scale provides the other worker count: no need to ingest it twice.
        reused = args.compare_workers in scales and args.workers in (1, 2)
        counts = tuple(n for n in (1, 2) if not (reused and n == args.workers))
        compared = compare_workers(args.compare_workers, counts, record)
    for scale in scales:
        earlier = next((r for r in state["scales"] if r["scale"] == scale and "ingest" in r["stages"]), None)
        run_scale(scale, args.workers, record, earlier if args.resume else None)
        if args.compare_workers == scale and len(compared) == 1:
            compared.append(state["scales"][-1]["stages"]["ingest"])
            compared.sort(key=lambda r: r["workers"])
            record({"compare_workers": {"scale": scale, "runs": compared}})


if __name__ == "__main__":
    sys.exit(main())
