"""Writes on accounts that pages and the API share."""

from __future__ import annotations

from accounts.models import Account
from campaigns import audit
from copycat import roles

REVEAL_SECONDS = 15 * 60
REVEALED_FIELDS = ["email", "signup_ip", "request_ips", "prompt_excerpts"]


def reveal_personal_data(account: Account, *, user, reason: str) -> None:
    """Allow ``user`` to see the account's personal data in clear, with the reason in the audit
    trail. Pages then show it for REVEAL_SECONDS; the API answers the reveal call with it."""
    roles.require(user, "reveal_personal_data")
    audit.record("account.reveal", actor=user, object_type="account", object_id=account.account_id,
                 reason=reason, data={"fields": REVEALED_FIELDS, "seconds": REVEAL_SECONDS})
