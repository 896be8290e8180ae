"""stix-bundle.json: the campaign in STIX 2.1, for other labs and authorities.

Objects: the provider (identity), the campaign, a threat actor when the campaign is
attributed, shared infrastructure (networks, ASNs, payment and device fingerprints) with
indicators and relationships, and an observed-data object over the member accounts. Ids are
uuid5 of the campaign and the value, and timestamps come from the snapshot, so the same
snapshot gives the same bundle. In a redacted packet, networks appear by their keyed hash
(no IP pattern can be written for them), payment and device fingerprints as given (they are
already hashes of the instrument).
"""

from __future__ import annotations

import csv
import json
import uuid
from datetime import datetime
from pathlib import Path

from campaigns.evidence.redaction import Redactor

NAMESPACE = uuid.UUID("6f1c8a52-2f7e-4c36-9d5e-0b1f3c2a7e11")
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")  # fixed by the STIX 2.1 spec
PROVIDER = "identity--" + str(uuid.uuid5(NAMESPACE, "copycat provider identity"))
PROVIDER_CREATED = "2026-01-01T00:00:00.000Z"
TOP = {"ip_network": 25, "asn": 10, "payment_fingerprint": 25, "device_fingerprint": 25}


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _id(kind: str, campaign_id: int, value: str) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, f'campaign {campaign_id} {kind} {value}')}"


def _pattern_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def shared_infrastructure(infra_csv: Path) -> list[dict]:
    """The top values of each kind from infrastructure.csv (already sorted by requests)."""
    picked, seen = [], {}
    with open(infra_csv, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            kind = row["kind"]
            if kind not in TOP or seen.get(kind, 0) >= TOP[kind]:
                continue
            if kind in ("payment_fingerprint", "device_fingerprint") and int(row["member_accounts"]) < 2:
                continue
            seen[kind] = seen.get(kind, 0) + 1
            picked.append(row)
    return picked


def build_bundle(*, campaign, snapshot_at: datetime, window: tuple, infra: list[dict], accounts: list[str],
                 total_requests: int, redactor: Redactor) -> dict:
    cid = campaign.pk
    created, modified = _ts(campaign.created_at), _ts(max(snapshot_at, campaign.created_at))
    common = {"spec_version": "2.1", "created": created, "modified": modified, "created_by_ref": PROVIDER}
    campaign_id = _id("campaign", cid, "campaign")
    objects: list[dict] = [{
        "type": "identity", "spec_version": "2.1", "id": PROVIDER, "created": PROVIDER_CREATED,
        "modified": PROVIDER_CREATED, "name": "Model API provider, trust and safety (Copycat)",
        "identity_class": "organization",
    }]
    description = "\n\n".join(p for p in (redactor.scrub(campaign.summary), redactor.scrub(campaign.explanation)) if p)
    camp = {"type": "campaign", "id": campaign_id, **common, "name": campaign.name,
            "objective": "Harvest the provider's model outputs at scale to train a competing model (distillation).",
            "x_copycat_campaign_id": cid, "x_copycat_status": campaign.status, "x_copycat_severity": campaign.severity,
            "x_copycat_member_accounts": len(accounts), "x_copycat_requests": total_requests}
    if description:
        camp["description"] = description
    if window[0]:
        camp["first_seen"], camp["last_seen"] = _ts(window[0]), _ts(window[1])
    objects.append(camp)
    relationships: list[tuple[str, str, str]] = []

    if campaign.attribution.strip():
        actor_id = _id("threat-actor", cid, campaign.attribution)
        objects.append({"type": "threat-actor", "id": actor_id, **common,
                        "name": redactor.scrub(campaign.attribution.strip())[:250],
                        "threat_actor_types": ["unknown"], "description": redactor.scrub(campaign.attribution)})
        relationships.append((campaign_id, "attributed-to", actor_id))

    valid_from = _ts(window[0]) if window[0] else created
    for row in infra:
        kind, value = row["kind"], row["value"]
        infra_id = _id("infrastructure", cid, f"{kind} {value}")
        label = {"ip_network": "Network", "asn": "AS", "payment_fingerprint": "Payment instrument",
                 "device_fingerprint": "Sign-up device"}[kind]
        obj = {"type": "infrastructure", "id": infra_id, **common, "name": f"{label} {value}",
               "infrastructure_types": ["anonymization"] if kind in ("ip_network", "asn") else ["unknown"],
               "x_copycat_kind": kind, "x_copycat_value": value,
               "x_copycat_member_accounts": int(row["member_accounts"])}
        if row["requests"]:
            obj["x_copycat_requests"] = int(row["requests"])
        if row["first_seen"]:
            obj["first_seen"], obj["last_seen"] = row["first_seen"][:23] + "Z", row["last_seen"][:23] + "Z"
        objects.append(obj)
        relationships.append((campaign_id, "uses", infra_id))
        pattern = _pattern(kind, value, redactor)
        if pattern:
            ind_id = _id("indicator", cid, f"{kind} {value}")
            objects.append({"type": "indicator", "id": ind_id, **common, "name": f"{label} {value}",
                            "description": f"{row['member_accounts']} member accounts of campaign {cid} share this {kind}.",
                            "indicator_types": ["malicious-activity"], "pattern": pattern, "pattern_type": "stix",
                            "valid_from": valid_from})
            relationships.append((ind_id, "indicates", campaign_id))
            relationships.append((ind_id, "indicates", infra_id))

    if accounts and window[0]:
        refs = []
        for account_id in accounts:
            sco_id = "user-account--" + str(uuid.uuid5(SCO_NAMESPACE, json.dumps({"user_id": account_id})))
            objects.append({"type": "user-account", "spec_version": "2.1", "id": sco_id, "user_id": account_id})
            refs.append(sco_id)
        objects.append({"type": "observed-data", "id": _id("observed-data", cid, "members"), **common,
                        "first_observed": _ts(window[0]), "last_observed": _ts(window[1]),
                        "number_observed": max(1, min(total_requests, 999_999_999)), "object_refs": refs})

    for source, rel, target in relationships:
        objects.append({"type": "relationship", "id": _id("relationship", cid, f"{source} {rel} {target}"), **common,
                        "relationship_type": rel, "source_ref": source, "target_ref": target})
    return {"type": "bundle", "id": _id("bundle", cid, "bundle"), "objects": objects}


def _pattern(kind: str, value: str, redactor: Redactor) -> str | None:
    if kind == "ip_network" and not redactor.enabled:
        sco = "ipv6-addr" if ":" in value else "ipv4-addr"
        return f"[{sco}:value ISSUBSET '{value}']"
    if kind == "payment_fingerprint":
        return f"[x-copycat-payment-instrument:fingerprint = '{_pattern_string(value)}']"
    if kind == "device_fingerprint":
        return f"[x-copycat-device:fingerprint = '{_pattern_string(value)}']"
    if kind == "asn":
        return f"[autonomous-system:number = {int(value)}]"
    return None


def write_bundle(path: Path, bundle: dict) -> None:
    path.write_bytes((json.dumps(bundle, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode())
