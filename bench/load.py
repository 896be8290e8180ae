"""Load: 50 API clients and 10 signed-in page users for a while against gunicorn on loopback,
once without and once while an ingest runs; zero errors required, p50/p95/p99 recorded.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/copycat_web \
    python bench/load.py [--seconds 120] [--port 8300] [--workers 4] \
        [--ingest-db copycat_faults_load] [--out bench/results/load.md]

Reads go to the demo world in DATABASE_URL (users ``load-api`` and ``load-page-N``, role viewer,
are created there). The ingest during the second phase is a freshly generated world
(``generate_traffic --preset tiny --scale 12 --seed 9``, ~415k requests) loaded by
``manage.py ingest`` into a separate database on the same PostgreSQL server (``--ingest-db``,
created and migrated if missing), so the demo world others read is not changed while the
server, disks and the two shared cores carry both loads. Every loop is bounded (deadline and a
request cap); only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import platform
import random
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "copycat.settings")
PY = str(ROOT / ".venv" / "bin" / "python")
MAX_REQUESTS_PER_CLIENT = 20_000


def _bench_module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def setup(page_users: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    from copycat import roles

    out = io.StringIO()
    call_command("create_user", "load-api", "--role", roles.VIEWER, "--token", stdout=out, stderr=io.StringIO())
    token = out.getvalue().strip().split()[-1]
    password = secrets.token_urlsafe(16)
    for i in range(page_users):
        call_command("create_user", f"load-page-{i}", "--role", roles.VIEWER, "--password", password,
                     stdout=io.StringIO(), stderr=io.StringIO())
    api = _bench_module("api")
    from accounts.models import Account
    from campaigns.models import Campaign

    campaign = Campaign.objects.order_by("-member_count").first()
    account = (Account.objects.filter(memberships__campaign=campaign, memberships__active=True)
               .order_by("-request_count").first())
    api_paths = list(api.endpoints({"campaign": campaign.pk, "account": account.account_id}).items())
    page_paths = _bench_module("pages").pages()
    return {"token": token, "password": password, "api": api_paths, "pages": page_paths}


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {"api": [], "page": []}
        self.errors: list[str] = []

    def add(self, kind: str, ms: float) -> None:
        with self.lock:
            self.times[kind].append(ms)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


def _get(session: requests.Session, base: str, kind: str, name: str, path: str, tally: Tally) -> None:
    start = time.perf_counter()
    try:
        response = session.get(base + path, timeout=60, allow_redirects=False)
    except requests.RequestException as exc:
        tally.error(f"{kind} {name}: {type(exc).__name__}")
        return
    ms = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        tally.error(f"{kind} {name}: HTTP {response.status_code}")
    tally.add(kind, ms)


def api_client(base: str, token: str, paths, stop: float, tally: Tally) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    order = paths[:]
    random.shuffle(order)
    for i in range(MAX_REQUESTS_PER_CLIENT):
        if time.perf_counter() >= stop:
            break
        name, path = order[i % len(order)]
        _get(session, base, "api", name, path, tally)


def sign_in(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    form = session.get(base + "/login/", timeout=30)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    done = session.post(base + "/login/", data={"username": username, "password": password,
                                                "csrfmiddlewaretoken": csrf},
                        headers={"Referer": base + "/login/"}, timeout=30, allow_redirects=False)
    assert done.status_code == 302, f"sign-in of {username} failed: HTTP {done.status_code}"
    return session


def page_user(session: requests.Session, base: str, paths, stop: float, tally: Tally) -> None:
    order = paths[:]
    random.shuffle(order)
    for i in range(MAX_REQUESTS_PER_CLIENT):
        if time.perf_counter() >= stop:
            break
        name, path = order[i % len(order)]
        _get(session, base, "page", name, path, tally)
        time.sleep(random.uniform(0.2, 1.0))  # an analyst reads before the next click


def phase(base: str, world: dict, sessions, clients: int, seconds: float) -> Tally:
    tally = Tally()
    stop = time.perf_counter() + seconds
    threads = [threading.Thread(target=api_client, args=(base, world["token"], world["api"], stop, tally))
               for _ in range(clients)]
    threads += [threading.Thread(target=page_user, args=(s, base, world["pages"], stop, tally)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    return tally


def _ingest_env(db: str) -> dict:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return {**os.environ, "DATABASE_URL": urlunsplit(parts._replace(path=f"/{db}")), "DETECT_AFTER_INGEST": "false"}


def prepare_ingest(db: str, folder: Path) -> list[str]:
    env = _ingest_env(db)
    exists = subprocess.run(["psql", os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres", "-Atc",
                             f"SELECT 1 FROM pg_database WHERE datname = '{db}'"], capture_output=True, text=True)
    if exists.stdout.strip() != "1":
        subprocess.run(["psql", os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres", "-c",
                        f"CREATE DATABASE {db}"], check=True, capture_output=True)
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([PY, "manage.py", "flush", "--no-input"], cwd=ROOT, env=env, check=True)
    subprocess.run(["psql", urlunsplit(urlsplit(env["DATABASE_URL"])), "-c", "TRUNCATE request"], check=True,
                   capture_output=True)
    if not folder.is_dir():
        subprocess.run([PY, "manage.py", "generate_traffic", "--out", str(folder), "--preset", "tiny", "--scale", "12",
                        "--seed", "9", "--quiet"], cwd=ROOT, env=env, check=True)
    return sorted(map(str, folder.glob("accounts-*"))) + sorted(map(str, folder.glob("requests-*")))


def summary(tally: Tally) -> dict:
    out = {}
    for kind, values in tally.times.items():
        values = sorted(values)

        def pick(p: float, values=values) -> float:
            return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))] if values else float("nan")

        out[kind] = {"n": len(values), "p50": statistics.median(values) if values else float("nan"),
                     "p95": pick(95), "p99": pick(99), "max": values[-1] if values else float("nan")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--port", type=int, default=8300)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--page-users", type=int, default=10)
    parser.add_argument("--ingest-db", default="copycat_faults_load")
    parser.add_argument("--ingest-world", type=Path, default=Path("/tmp/faults-load-world12"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.md")
    args = parser.parse_args()
    world = setup(args.page_users)
    files = prepare_ingest(args.ingest_db, args.ingest_world)
    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "copycat.wsgi:application", "-b", f"127.0.0.1:{args.port}",
         "-w", str(args.workers), "--keep-alive", "30", "--log-level", "warning", "--timeout", "120"],
        cwd=ROOT, env={**os.environ, "DATABASE_CONN_MAX_AGE": "600"})
    results = {}
    try:
        for _ in range(200):
            try:
                requests.get(base + "/api/v1/health/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        sessions = [sign_in(base, f"load-page-{i}", world["password"]) for i in range(args.page_users)]
        phase(base, world, sessions[:2], 5, 10)  # warm the workers' caches and connections
        results["without ingest"] = (phase(base, world, sessions, args.clients, args.seconds), None)
        t0 = time.perf_counter()
        ingest = subprocess.Popen([PY, "manage.py", "ingest", *files], cwd=ROOT, env=_ingest_env(args.ingest_db),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        tally = phase(base, world, sessions, args.clients, args.seconds)
        running = ingest.poll() is None
        ingest_seconds = time.perf_counter() - t0
        stderr = ingest.communicate(timeout=900)[1]
        assert ingest.returncode == 0, f"the ingest failed: {stderr[-2000:]}"
        results["during ingest"] = (tally, {"files": len(files), "seconds": time.perf_counter() - t0,
                                            "covered": "whole window" if running else f"first {ingest_seconds:.0f} s"})
    finally:
        server.terminate()
        server.wait(timeout=30)
    write(args, results)


def write(args, results: dict) -> None:
    lines = ["# Load: 50 API clients and 10 page users, with and without an ingest", "",
             f"`python bench/load.py --seconds {args.seconds:.0f}` ({time.strftime('%Y-%m-%d')}): gunicorn "
             f"({args.workers} sync workers) on 127.0.0.1:{args.port}; {args.clients} API clients (token, keep-alive, "
             f"every endpoint of bench/api.py in turn, no pause) and {args.page_users} signed-in page users (session "
             "cookie, the pages of bench/pages.py in turn, 0.2-1 s between clicks), all viewers, for "
             f"{args.seconds:.0f} s per phase. Reads: the demo world in "
             f"`{os.environ['DATABASE_URL'].rsplit('/', 1)[-1]}`. Ingest: `manage.py ingest` of a freshly generated "
             f"world (tiny preset x12, seed 9, ~415k requests) into `{args.ingest_db}` "
             "on the same PostgreSQL server.", "",
             f"Machine: {os.cpu_count()} shared cores (other engineers' jobs ran at the same time), "
             f"{platform.python_implementation()} {platform.python_version()}; clients, gunicorn, the ingest and "
             "PostgreSQL all share the cores, so the figures are noisy: compare the two rows, not absolute values.", "",
             "| phase | errors | API requests | API p50 ms | API p95 ms | API p99 ms | page requests | page p50 ms "
             "| page p95 ms | page p99 ms |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    notes = []
    for name, (tally, ingest) in results.items():
        s = summary(tally)
        a, p = s["api"], s["page"]
        lines.append(f"| {name} | {len(tally.errors)} | {a['n']} | {a['p50']:.0f} | {a['p95']:.0f} | {a['p99']:.0f} | "
                     f"{p['n']} | {p['p50']:.0f} | {p['p95']:.0f} | {p['p99']:.0f} |")
        if tally.errors:
            notes.append(f"- {name}: errors {sorted(set(tally.errors))[:10]}")
        if ingest:
            notes.append(f"- The ingest ({ingest['files']} files) took {ingest['seconds']:.0f} s and ran during the "
                         f"{ingest['covered']} of the loaded phase.")
    text = "\n".join(lines + [""] + notes) + "\n"
    args.out.write_text(text)
    print(text)
    if any(t.errors for t, _ in results.values()):
        raise SystemExit("errors under load")


if __name__ == "__main__":
    main()
