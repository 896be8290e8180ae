"""Masking of personal data on the pages: e-mail, sign-up IP, request IPs and prompt excerpts are
shown masked unless the viewer revealed them with a stated, audited reason."""

from __future__ import annotations

import functools
import hashlib
import ipaddress


def short_hash(value: str) -> str:
    """A stable tag so masked values can still be matched by eye."""
    return hashlib.sha256(value.encode()).hexdigest()[:6]


def mask_email(email: str | None, revealed: bool) -> str | None:
    if not email or revealed:
        return email
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain} (#{short_hash(email)})" if domain else f"••• (#{short_hash(email)})"


def mask_ip(ip: str | None, revealed: bool) -> str | None:
    """An IPv4 address keeps its /24 (the network, which infrastructure analysis uses); the host
    part is hidden. IPv6 keeps its /48."""
    if not ip or revealed:
        return ip
    return _masked_ip(ip)


@functools.lru_cache(maxsize=65536)
def _masked_ip(ip: str) -> str:
    """A page of requests repeats its few addresses: each is parsed and hashed once."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "•••"
    if address.version == 4:
        return ".".join(ip.split(".")[:3]) + f".••• (#{short_hash(ip)})"
    net = ipaddress.ip_network(f"{ip}/48", strict=False)
    return f"{net.network_address}•••/48 (#{short_hash(ip)})"


def mask_value(kind: str, value: str | None, revealed: bool) -> str | None:
    """A shared value as a page shows it: IPs masked, everything else as is."""
    return mask_ip(value, revealed) if kind in ("ip", "signup_ip") else value
