#!/usr/bin/env python3
"""Copycat's two set-up commands: `./copycat.py demo` and `./copycat.py test`.

Standard library only, so it runs on a fresh machine before anything is installed: it makes
`.venv/` with a Python new enough for Django 6.1 (3.12+), installs requirements.txt into it,
makes sure PostgreSQL and Redis answer, then runs the demo or the test suite.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PY = VENV / "bin" / "python"
MIN_PYTHON = (3, 12)
# The start commands of this machine kind's own services (see the README, "Deploying").
SERVICE_START = {
    5432: "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | tail -n 1) main start",
    6379: "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no "
    "--dir /var/lib/redis --logfile /var/log/redis/ci.log",
}


def say(message: str) -> None:
    print(f"copycat: {message}", flush=True)


def python_version(executable: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([executable, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
                             capture_output=True, text=True, timeout=20, env={**os.environ, "PYENV_VERSION": ""})
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    major, minor = out.stdout.split()
    return int(major), int(minor)


def find_python() -> str:
    """The newest Python >= 3.12 on this machine (PATH first, then pyenv's versions)."""
    candidates = [sys.executable]
    for name in ("python3.14", "python3.13", "python3.12", "python3"):
        found = shutil.which(name)
        if found:
            candidates.append(found)
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python3")), reverse=True)
    candidates += sorted(glob.glob("/usr/local/bin/python3.1[2-9]"), reverse=True)
    for candidate in candidates:
        version = python_version(candidate)
        if version and version >= MIN_PYTHON:
            return candidate
    sys.exit("copycat: Django 6.1 needs Python 3.12 or newer; install one (e.g. python3.12) and run this again.")


def ensure_venv() -> None:
    """Create .venv and install requirements.txt, only when they changed since last time."""
    requirements = (ROOT / "requirements.txt").read_bytes()
    stamp = VENV / ".requirements.sha256"
    digest = hashlib.sha256(requirements).hexdigest()
    if VENV_PY.exists() and stamp.exists() and stamp.read_text() == digest:
        return
    if not VENV_PY.exists():
        python = find_python()
        say(f"creating .venv with {python}")
        subprocess.run([python, "-m", "venv", str(VENV)], check=True)
    say("installing requirements.txt into .venv (first run takes a minute or two)")
    subprocess.run([str(VENV_PY), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(VENV_PY), "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements.txt")], check=True)
    stamp.write_text(digest)


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def ensure_local_services() -> None:
    """Start this machine's PostgreSQL and Redis if they are installed but not running."""
    for port, command in SERVICE_START.items():
        if listening(port):
            continue
        say(f"nothing answers on 127.0.0.1:{port}; starting it: {command.split()[0]}")
        subprocess.run(command, shell=True, check=False)
        for _ in range(60):
            if listening(port):
                break
            time.sleep(0.5)
        else:
            sys.exit(f"copycat: could not start the service for port {port}; start it and run this again.")


def ensure_chromium() -> None:
    """Browser tests drive Debian's Chromium; install it (as root, with apt) when missing."""
    if Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        say("Chromium is missing and cannot be installed from here; run: apt-get install chromium chromium-driver")
        return
    say("installing Debian's chromium and chromium-driver for the browser tests")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"], check=True, env=env)


def manage(*args: str, env: dict | None = None) -> None:
    subprocess.run([str(VENV_PY), "manage.py", *args], cwd=ROOT, check=True, env=env)


def ensure_database(env: dict) -> None:
    """Create the database named by DATABASE_URL if the server has no such database yet."""
    code = (
        "import psycopg, dj_database_url, os\n"
        "cfg = dj_database_url.parse(os.environ.get('DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/copycat'))\n"
        "kw = dict(host=cfg['HOST'] or None, port=cfg['PORT'] or None, user=cfg['USER'] or None, "
        "password=cfg['PASSWORD'] or None)\n"
        "with psycopg.connect(dbname='postgres', autocommit=True, **kw) as c:\n"
        "    if not c.execute('select 1 from pg_database where datname=%s', (cfg['NAME'],)).fetchone():\n"
        "        c.execute('create database \"%s\"' % cfg['NAME'])\n"
    )
    subprocess.run([str(VENV_PY), "-c", code], cwd=ROOT, check=True, env=env)


def run_tests(extra: list[str]) -> int:
    ensure_venv()
    ensure_local_services()
    ensure_chromium()
    env = dict(os.environ)
    say("running the test suite")
    manage("check", env=env)
    manage("makemigrations", "--check", "--dry-run", env=env)
    result = subprocess.run([str(VENV_PY), "-m", "pytest", *extra], cwd=ROOT, env=env)
    return result.returncode


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("demo", "test"):
        print("usage: ./copycat.py demo | ./copycat.py test [pytest arguments]", file=sys.stderr)
        return 2
    if sys.argv[1] == "test":
        return run_tests(sys.argv[2:])
    from_venv = [str(VENV_PY), str(ROOT / "bin" / "demo.py"), *sys.argv[2:]]
    ensure_venv()
    os.execv(from_venv[0], from_venv)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
