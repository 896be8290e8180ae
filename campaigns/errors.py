"""Errors the services raise; pages show the message, the API maps them to 400/404/409."""

from __future__ import annotations


class ServiceError(Exception):
    """A request that cannot be carried out as asked; the message says what to fix."""


class InvalidInput(ServiceError):
    """The values given are not acceptable (400)."""


class NotFound(ServiceError):
    """The object named does not exist (404)."""


class Conflict(ServiceError):
    """The change conflicts with the current state, e.g. linking a member twice (409)."""
