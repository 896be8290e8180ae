"""Ed25519 signing of packet manifests.

The private key comes from ``settings.EVIDENCE_SIGNING_KEY`` (PEM, or base64 of the raw 32
bytes; ``EVIDENCE_SIGNING_KEY_FILE`` works through ``copycat.env``). When it is empty, a key is
generated for local use and kept at ``EVIDENCE_DIR/signing-key.pem`` with mode 0600, so every
packet made on this machine is signed by the same key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_FILE_NAME = "signing-key.pem"


def _parse(value: str) -> Ed25519PrivateKey:
    value = value.strip()
    if value.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(value.encode(), password=None)
        except ValueError as exc:
            raise ImproperlyConfigured(f"EVIDENCE_SIGNING_KEY is not a readable PEM private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ImproperlyConfigured("EVIDENCE_SIGNING_KEY must be an Ed25519 key (openssl genpkey -algorithm ed25519).")
        return key
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ImproperlyConfigured("EVIDENCE_SIGNING_KEY is neither PEM nor base64.") from exc
    if len(raw) != 32:
        raise ImproperlyConfigured(f"EVIDENCE_SIGNING_KEY in base64 must decode to 32 bytes, not {len(raw)}.")
    return Ed25519PrivateKey.from_private_bytes(raw)


def _local_key(path: Path) -> Ed25519PrivateKey:
    """Read the machine-local key, creating it (0600, never overwritten) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    return _parse(path.read_text())


@lru_cache(maxsize=4)
def _key_for(configured: str, evidence_dir: str) -> Ed25519PrivateKey:
    if configured.strip():
        return _parse(configured)
    return _local_key(Path(evidence_dir) / KEY_FILE_NAME)


def private_key() -> Ed25519PrivateKey:
    return _key_for(getattr(settings, "EVIDENCE_SIGNING_KEY", "") or "", str(settings.EVIDENCE_DIR))


def private_bytes() -> bytes:
    return private_key().private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                       serialization.NoEncryption())


def public_key_pem() -> str:
    return private_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def fingerprint(public_pem: str | bytes) -> str:
    """SHA-256 of the raw 32-byte public key, hex: a short name for a key."""
    key = load_public_key(public_pem)
    return hashlib.sha256(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).hexdigest()


def sign(data: bytes) -> bytes:
    return private_key().sign(data)


def load_public_key(public_pem: str | bytes) -> Ed25519PublicKey:
    if isinstance(public_pem, str):
        public_pem = public_pem.encode()
    key = serialization.load_pem_public_key(public_pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")  # noqa: TRY004 (callers treat any bad key as ValueError)
    return key


def verify(public_pem: str | bytes, data: bytes, signature: bytes) -> bool:
    try:
        load_public_key(public_pem).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True
