"""Check a packet without a database: every file's hash and size, nothing missing or extra,
the Ed25519 signature of the manifest, and the custody hash chain.

Needs only the ZIP (and, optionally, the key the verifier expects the packet to be signed
with). Anyone can do the same with sha256sum and openssl; README.txt in the packet says how.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from campaigns.evidence import signing
from campaigns.evidence.custody import check_custody
from campaigns.evidence.manifest import FORMAT, MANIFEST, PUBLIC_KEY, SIGNATURE

CUSTODY = "custody.jsonl"


def _read(zf: zipfile.ZipFile, name: str) -> bytes:
    with zf.open(name) as fh:
        return fh.read()


def _digest(zf: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with zf.open(name) as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def verify_packet(path: str | Path, expect_key_pem: str | bytes | None = None) -> list[str]:
    """Problems found (empty when the packet is intact and properly signed)."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"{path}: not a readable ZIP file ({exc})"]
    with zf:
        try:
            return _verify(zf, expect_key_pem)
        except zipfile.BadZipFile as exc:
            return [f"{path}: the ZIP is damaged ({exc})"]


def _verify(zf: zipfile.ZipFile, expect_key_pem) -> list[str]:
    problems: list[str] = []
    names = zf.namelist()
    if len(names) != len(set(names)):
        problems.append("the ZIP holds two entries with the same name")
    present = set(names)
    for required in (MANIFEST, SIGNATURE, PUBLIC_KEY):
        if required not in present:
            problems.append(f"{required}: missing from the packet")
    if MANIFEST not in present:
        return problems
    raw_manifest = _read(zf, MANIFEST)
    try:
        manifest = json.loads(raw_manifest)
    except ValueError as exc:
        return problems + [f"{MANIFEST}: not valid JSON ({exc})"]
    if manifest.get("format") != FORMAT:
        problems.append(f"{MANIFEST}: format is {manifest.get('format')!r}, expected {FORMAT!r}")

    # The signature first: if it fails, nothing the manifest says can be trusted.
    if SIGNATURE in present and PUBLIC_KEY in present:
        public_pem = _read(zf, PUBLIC_KEY)
        try:
            key_fp = signing.fingerprint(public_pem)
        except ValueError:
            problems.append(f"{PUBLIC_KEY}: not an Ed25519 public key in PEM form")
        else:
            if not signing.verify(public_pem, raw_manifest, _read(zf, SIGNATURE)):
                problems.append(f"{SIGNATURE}: the signature does not match {MANIFEST} under the packet's public key "
                                "(the manifest was changed after signing, or the signature or key was replaced)")
            declared = (manifest.get("signing") or {}).get("public_key_sha256")
            if declared != key_fp:
                problems.append(f"{PUBLIC_KEY}: key {key_fp[:16]}… is not the key the manifest names "
                                f"({str(declared)[:16]}…)")
            if expect_key_pem is not None:
                try:
                    expected_fp = signing.fingerprint(expect_key_pem)
                except ValueError:
                    problems.append("the expected key given is not an Ed25519 public key in PEM form")
                else:
                    if expected_fp != key_fp:
                        problems.append(f"{PUBLIC_KEY}: the packet is signed by key {key_fp[:16]}…, not by the "
                                        f"expected key {expected_fp[:16]}…")

    listed: dict[str, dict] = {}
    for entry in manifest.get("files") or []:
        listed[entry.get("path")] = entry
    for name in sorted(listed):
        entry = listed[name]
        if name not in present:
            problems.append(f"{name}: listed in the manifest but missing from the packet")
            continue
        sha, size = _digest(zf, name)
        if size != entry.get("size"):
            problems.append(f"{name}: size is {size} bytes, the manifest says {entry.get('size')}")
        if sha != entry.get("sha256"):
            problems.append(f"{name}: SHA-256 is {sha}, the manifest says {entry.get('sha256')} (the file was changed)")
    for name in sorted(present - set(listed) - {MANIFEST, SIGNATURE}):
        problems.append(f"{name}: in the packet but not listed in the manifest (extra file)")

    if CUSTODY in present:
        head = (manifest.get("custody") or {}).get("head")
        problems += check_custody(_read(zf, CUSTODY), head)
    elif CUSTODY not in listed:
        problems.append(f"{CUSTODY}: missing from the packet")
    return problems
