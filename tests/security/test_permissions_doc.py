"""docs/permissions.md states the same matrix that copycat/roles.py enforces."""

from __future__ import annotations

import re
from pathlib import Path

from copycat import roles

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def test_the_permission_matrix_in_the_docs_matches_the_code():
    rows = {}
    for line in DOC.read_text().splitlines():
        match = re.match(r"\| `(\w+)`: [^|]+\|(.+)\|$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    assert set(rows) == set(roles.ACTIONS)
    for action, needed in roles.ACTIONS.items():
        expected = ["yes" if i >= roles.ROLES.index(needed) else "no" for i in range(len(roles.ROLES))]
        assert rows[action] == expected, action
