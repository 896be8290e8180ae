"""Checks of text typed by users, shared by pages, API, filters and commands."""

from __future__ import annotations


def is_whole_number(text: str) -> bool:
    """Plain ASCII digits only. ``str.isdigit`` is also true for '²' (which ``int`` refuses)
    and for other scripts' digits, and ``int`` itself takes " 1", "+1" and "1_0"."""
    return text.isascii() and text.isdigit()
