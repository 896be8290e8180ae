"""Redaction of personal data with keyed hashes (HMAC-SHA256).

The same value gets the same token in every file of every packet signed by the same key, so
a reader can still see that two accounts share an address, while only the holder of the key
can test a guess. Addresses also get their network (/24 for IPv4, /48 for IPv6) hashed on its
own, so shared infrastructure still groups. ``sql_hmac`` computes the very same hash inside
PostgreSQL (from its built-in ``sha256``), so streamed exports need no Python per row.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass

from django.conf import settings

from campaigns.evidence import signing

HEX = 16  # 64 bits of the HMAC: plenty to keep distinct values apart in one investigation
_BLOCK = 64

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
IPV4_RE = re.compile(r"(?<!\d)(?<!\d\.)(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:/\d{1,2})?(?!\d|\.\d)")
IPV6_RE = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f:]{0,4}(?:/\d{1,3})?(?![0-9A-Fa-f:])")


def redaction_key() -> bytes:
    """The HMAC key: ``EVIDENCE_REDACTION_KEY`` if a deployment sets one, else derived from the
    signing key (so one secret covers both)."""
    configured = getattr(settings, "EVIDENCE_REDACTION_KEY", "") or ""
    if configured:
        return hashlib.sha256(configured.encode()).digest()
    return hmac.new(signing.private_bytes(), b"copycat evidence redaction v1", hashlib.sha256).digest()


def network_of(ip: str) -> str:
    address = ipaddress.ip_address(ip)
    return str(ipaddress.ip_network(f"{address}/{24 if address.version == 4 else 48}", strict=False))


@dataclass
class Redactor:
    """Turns personal values into tokens when ``enabled``; passes them through otherwise."""

    enabled: bool
    key: bytes

    @classmethod
    def for_packet(cls, redacted: bool) -> Redactor:
        return cls(enabled=redacted, key=redaction_key())

    def digest(self, value: str) -> str:
        return hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()[:HEX]

    def email(self, value: str | None) -> str:
        if not value:
            return ""
        return f"email:{self.digest(value.strip().lower())}" if self.enabled else value

    def email_domain(self, value: str | None) -> str:
        if not value or "@" not in value:
            return ""
        domain = value.rsplit("@", 1)[1].strip().lower()
        return f"domain:{self.digest(domain)}" if self.enabled else domain

    def ip(self, value) -> str:
        if value in (None, ""):
            return ""
        value = str(ipaddress.ip_address(str(value)))
        return f"ip:{self.digest(value)}" if self.enabled else value

    def network(self, value) -> str:
        """The /24 (or /48) of an address, or a network given as text."""
        if value in (None, ""):
            return ""
        text = str(value)
        net = str(ipaddress.ip_network(text, strict=False)) if "/" in text else network_of(text)
        return f"net:{self.digest(net)}" if self.enabled else net

    def text(self, value: str | None) -> str:
        """Free text that may be personal as a whole (prompt excerpts, end-user ids)."""
        if not value:
            return ""
        return f"text:{self.digest(value)} ({len(value)} chars)" if self.enabled else value

    def scrub(self, value: str | None) -> str:
        """Analyst-written text: replace any e-mail or IP address it quotes by its token."""
        if not value or not self.enabled:
            return value or ""
        value = EMAIL_RE.sub(lambda m: self.email(m.group(0)), value)
        value = IPV4_RE.sub(self._address_token, value)
        return IPV6_RE.sub(self._address_token, value)

    def _address_token(self, match: re.Match) -> str:
        found = match.group(0)
        try:
            return self.network(found) if "/" in found else self.ip(found)
        except ValueError:
            return found  # not an address after all (e.g. a time like 10:30:00)

    def scrub_json(self, value):
        """Scrub every string inside a JSON-like value."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, list):
            return [self.scrub_json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub_json(v) for k, v in value.items()}
        return value

    # --- the same hash inside PostgreSQL ----------------------------------------------
    def sql_pads(self) -> tuple[bytes, bytes]:
        key = self.key.ljust(_BLOCK, b"\0")
        return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def sql_hmac(expr: str) -> str:
    """SQL computing ``Redactor.digest`` of the text ``expr``; needs the parameters
    ``%(ipad)s`` and ``%(opad)s`` (bytea) from ``Redactor.sql_pads``."""
    return (f"left(encode(sha256(%(opad)s::bytea || sha256(%(ipad)s::bytea || convert_to({expr}, 'UTF8'))),"
            f" 'hex'), {HEX})")
