"""Fault drills run against throwaway PostgreSQL and Redis servers (see harness.py)."""

from __future__ import annotations

import pytest

from tests.faults.harness import Servers


@pytest.fixture(scope="session")
def servers():
    s = Servers()
    yield s
    s.close()


@pytest.fixture
def drill(servers, request):
    d = servers.world(request.node.name[:40])
    yield d
    d.close()
