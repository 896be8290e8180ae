"""The README's demo command on a fresh clone, as a new user meets it.

Each case clones the committed repository into a new folder, runs `./copycat.py demo`, waits
for the dashboard, signs in with the login it printed, finds a campaign, then stops it with
SIGINT and checks that nothing it started is left running. Slow (a full demo world each time).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import psycopg
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.demo


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fresh_folder():
    """A folder outside pytest's own temp root: the embedded PostgreSQL runs as another system
    user and must be able to reach its data folder, and pytest keeps its root private (0700)."""
    folder = Path(tempfile.mkdtemp(prefix="copycat-demo-check-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _clone(folder: Path) -> Path:
    target = folder / "copycat"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True)
    return target


class Demo:
    def __init__(self, clone: Path, env: dict, port: int):
        self.clone, self.port = clone, port
        self.log = clone.parent / "demo.log"
        self.proc = subprocess.Popen(["python3", "./copycat.py", "demo", "--port", str(port)], cwd=clone, env=env,
                                     stdout=open(self.log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_up(self, timeout: float) -> tuple[str, str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(r"Copycat is up: (\S+)\s+login: (\S+) / (\S+)", self.output())
            if match:
                return match.groups()
            assert self.proc.poll() is None, f"the demo exited early:\n{self.output()[-3000:]}"
            time.sleep(2)
        raise AssertionError(f"the demo did not come up in {timeout:.0f}s:\n{self.output()[-3000:]}")

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def interrupt(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)
        self.proc.wait(timeout=120)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)


def _sign_in_and_count_campaigns(url: str, user: str, password: str) -> int:
    session = requests.Session()
    login = session.get(f"{url}login/", timeout=30)
    assert login.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    response = session.post(f"{url}login/", data={"username": user, "password": password,
                                                  "csrfmiddlewaretoken": token},
                            headers={"Referer": f"{url}login/"}, timeout=30)
    assert response.status_code == 200 and "logout" in response.text.lower(), "signing in with the printed login failed"
    api = session.get(f"{url}api/v1/campaigns/", timeout=60)
    assert api.status_code == 200, api.text[:500]
    body = api.json()
    return body.get("count", len(body.get("results", body))) if isinstance(body, dict) else len(body)


def _run_demo(clone: Path, env: dict) -> None:
    started = time.monotonic()
    demo = Demo(clone, env, _free_port())
    try:
        url, user, password = demo.wait_until_up(timeout=1500)
        up_after = time.monotonic() - started
        assert _sign_in_and_count_campaigns(url, user, password) >= 1
        children = demo.descendants()
        assert children, "the demo should have started a web server, a worker and beat"
        demo.interrupt()
        assert demo.proc.returncode == 0, demo.output()[-2000:]
        time.sleep(2)
        left = [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not left, f"left running after Ctrl-C: {[p.cmdline()[:3] for p in left]}"
        print(f"demo usable after {up_after:.0f}s")
    finally:
        demo.kill()


def test_demo_on_a_fresh_clone_with_embedded_postgres_and_redis(fresh_folder):
    clone = _clone(fresh_folder)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    # Point "the usual ports" at free ones, so the demo finds nothing and starts its own.
    env.update(COPYCAT_LOCAL_PG_PORT=str(_free_port()), COPYCAT_LOCAL_REDIS_PORT=str(_free_port()))
    _run_demo(clone, env)
    assert not any("embedded_postgres" in " ".join(p.info["cmdline"] or [])
                   for p in psutil.process_iter(["cmdline"]) if str(clone) in " ".join(p.info["cmdline"] or []))


def test_demo_on_a_fresh_clone_with_the_machines_postgres_and_redis(fresh_folder):
    name = "copycat_demo_check"
    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    clone = _clone(fresh_folder)
    env = dict(os.environ, DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}",
               CELERY_BROKER_URL="redis://127.0.0.1:6379/8")
    _run_demo(clone, env)
