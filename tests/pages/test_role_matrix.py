"""Every write a page offers, for every role: refused with 403 below the role it needs
(docs/permissions.md), carried out (or answered with a form error, never 403) at or above it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from copycat import roles
from tests.pages.conftest import audit_actions


def _writes(world):
    c, a = world["campaign"], world["members"][0]
    return {
        "link": (reverse("campaigns:link", args=[c.pk]), {"account": "acct_candidate", "reason": "shares the card"}),
        "unlink": (reverse("campaigns:unlink", args=[c.pk]), {"account": a.account_id, "reason": "not theirs"}),
        "status_investigating": (reverse("campaigns:status", args=[c.pk]), {"status": "investigating", "reason": "r"}),
        "status_suspected": (reverse("campaigns:status", args=[c.pk]), {"status": "suspected", "reason": "r"}),
        "status_confirmed": (reverse("campaigns:status", args=[c.pk]), {"status": "confirmed", "reason": "proved"}),
        "status_dismissed": (reverse("campaigns:status", args=[c.pk]), {"status": "dismissed", "reason": "benign"}),
        "status_mitigated": (reverse("campaigns:status", args=[c.pk]), {"status": "mitigated", "reason": "blocked"}),
        "note": (reverse("campaigns:note", args=[c.pk]), {"text": "looked at it"}),
        "edit_campaign": (reverse("campaigns:edit", args=[c.pk]),
                          {"name": "Renamed", "severity": "high", "reason": "r"}),
        "reveal_personal_data": (reverse("accounts:reveal", args=[a.pk]), {"reason": "checking the e-mail pattern"}),
        "ingest_upload": (reverse("ingest:upload"), {}),
        "start_detection": (reverse("campaigns:start_detection"), {}),
        "export_packet": (reverse("campaigns:packet", args=[c.pk]), {"redacted": "1"}),
        "export_unredacted": (reverse("campaigns:packet", args=[c.pk]), {"redacted": "0", "reason": "court order"}),
    }


PAGE_ACTIONS = [a for a in roles.ACTIONS if a != "manage_users"]  # users are managed by command and admin


@pytest.mark.parametrize("role", roles.ROLES)
@pytest.mark.parametrize("action", PAGE_ACTIONS)
def test_each_page_write_needs_its_role(login, world, role, action):
    url, data = _writes(world)[action]
    before = audit_actions()
    response = login(role).post(url, data)
    allowed = roles.ROLES.index(role) >= roles.ROLES.index(roles.ACTIONS[action])
    if allowed:
        assert response.status_code != 403 and response.status_code < 500, (action, role, response.status_code)
    else:
        assert response.status_code == 403, (action, role, response.status_code)
        assert audit_actions() == before
