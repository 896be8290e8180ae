"""manifest.json: what the packet holds, each file with its SHA-256 and size, and how it was made.

The manifest is serialised canonically (sorted keys, two-space indent, UTF-8, final newline)
and those exact bytes are what ``manifest.sig`` signs. ``VOLATILE`` lists the fields that
differ between two packets of the same snapshot: everything else is a function of the snapshot.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

FORMAT = "copycat-evidence-packet/1"
MANIFEST, SIGNATURE, PUBLIC_KEY = "manifest.json", "manifest.sig", "public_key.pem"
VOLATILE = ("packet_id", "created_at", "created_by")


def file_entry(path: Path, name: str) -> dict:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return {"path": name, "sha256": digest.hexdigest(), "size": size}


def dumps(manifest: dict) -> bytes:
    return (json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def stable_part(manifest: dict) -> dict:
    """The manifest less the fields that name this particular packet (for comparisons)."""
    return {k: v for k, v in manifest.items() if k not in VOLATILE}
