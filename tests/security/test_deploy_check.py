"""`manage.py check --deploy` is clean with production settings, and the defaults are not."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.worker import ROOT

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x7Gq2mR9vT4kL1pZ8nW3cY6bH0sJ5dF2aQ9eU4iO7tK1rM3vX8zN6gB5hC2jP0w",
    "ALLOWED_HOSTS": "copycat.example.org",
    "SECURE_COOKIES": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_PRELOAD": "true",
}


def _check(env: dict) -> subprocess.CompletedProcess:
    # The browser tests set this for their own process (sync Playwright beside Django); a
    # deployment never has it, and check --deploy rightly refuses it.
    env = {k: v for k, v in env.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_deploy_check_is_clean_with_production_settings():
    result = _check({**os.environ, **PRODUCTION})
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_check_flags_the_development_defaults():
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    result = _check(env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stdout + result.stderr
