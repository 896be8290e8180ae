"""Roles: viewer < analyst < lead < admin, held as Django groups of the same names.

Pages, the API and commands all ask ``has_role`` / ``require_role``, so one table decides
who may do what (docs/permissions.md lists it).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

VIEWER, ANALYST, LEAD, ADMIN = "viewer", "analyst", "lead", "admin"
ROLES = (VIEWER, ANALYST, LEAD, ADMIN)
_RANK = {name: rank for rank, name in enumerate(ROLES)}

# What each write needs. Reads need VIEWER (any signed-in user with a role).
ACTIONS = {
    "link": ANALYST,
    "unlink": ANALYST,
    "note": ANALYST,
    "edit_campaign": ANALYST,
    "status_investigating": ANALYST,
    "status_suspected": ANALYST,
    "status_confirmed": LEAD,
    "status_dismissed": LEAD,
    "status_mitigated": LEAD,
    "reveal_personal_data": ANALYST,
    "ingest_upload": ANALYST,
    "start_detection": ANALYST,
    "export_packet": LEAD,
    "export_unredacted": LEAD,
    "manage_users": ADMIN,
}


def remember_groups(user, names) -> None:
    """Attach group names read together with the user (API token check) so ``role_of`` needs
    no query of its own for this request's user object."""
    user._copycat_group_names = frozenset(names)


def role_of(user) -> str | None:
    """The highest role the user holds, or None (a user without a role sees nothing)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return ADMIN
    names = getattr(user, "_copycat_group_names", None)
    if names is None:
        names = {g.name for g in user.groups.all()}
    held = [r for r in ROLES if r in names]
    return held[-1] if held else None


def has_role(user, role: str) -> bool:
    held = role_of(user)
    return held is not None and _RANK[held] >= _RANK[role]


def may(user, action: str) -> bool:
    return has_role(user, ACTIONS[action])


def require(user, action: str) -> None:
    """Raise PermissionDenied with a message naming the role the action needs."""
    if not may(user, action):
        needed = ACTIONS[action]
        raise PermissionDenied(f"This needs the {needed} role (you have: {role_of(user) or 'no role'}).")
