"""The simulated world's statistics: what detection and the demo rely on being true."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ingest.simulator import PRESETS, get_preset
from ingest.simulator.world import build_world

from .conftest import hamming

HOUR_MS = 3_600_000


def test_ground_truth_has_the_documented_shape(tiny):
    truth = tiny.truth
    assert truth["format"] == 1 and truth["preset"] == "tiny" and truth["seed"] == 1
    assert truth["window"] == {"start": "2026-04-01T00:00:00Z", "end": "2026-05-16T00:00:00Z"}
    assert [c["id"] for c in truth["campaigns"]] == ["A", "B", "C", "D", "E", "F"]
    for campaign in truth["campaigns"]:
        assert {"id", "kind", "description", "tactics", "accounts", "requests",
                "first_request"} <= set(campaign)
    b = tiny.campaign("B")
    assert b["new_model"] == "atlas-3.5" and b["new_model_release"].endswith("Z")
    kinds = {h["kind"] for h in truth["hard_negatives"]}
    assert kinds == {"enterprise", "ci_bot", "university", "eval_company", "reseller"}
    totals = truth["totals"]
    files = truth["files"]
    assert totals["requests"] == sum(f["records"] for f in files if f["kind"] == "requests")
    assert totals["requests"] == tiny.requests.num_rows
    assert totals["campaign_requests"] == sum(c["requests"] for c in truth["campaigns"])
    assert totals["accounts"] == totals["legit_accounts"] + totals["campaign_accounts"]


@pytest.mark.parametrize("fixture", ["tiny", "demo_small"])
def test_request_counts_per_campaign_are_within_two_percent_of_the_preset(fixture, request):
    world = request.getfixturevalue(fixture)
    preset = get_preset(world.truth["preset"], world.truth["scale"])
    for cid, target in preset.campaigns.items():
        campaign = world.campaign(cid)
        counted = world.rows_of(campaign["accounts"]).num_rows
        assert counted == campaign["requests"]
        assert abs(counted - target.requests) <= 0.02 * target.requests, cid
        assert abs(len(campaign["accounts"]) - target.accounts) <= 0.02 * target.accounts + 1, cid


def _peak_to_trough(hours: np.ndarray) -> float:
    counts = np.bincount(hours % 24, minlength=24).astype(float)
    return counts.max() / max(counts.min(), 1.0)


def test_legit_accounts_have_a_daily_rhythm_and_campaign_a_does_not(demo_small):
    world = build_world(get_preset("demo", 0.05), 7)
    individuals = next(g for g in world.groups if g.gid == "legit-individual").accounts
    tz = dict(zip(world.account_ids.take(individuals).to_pylist(),
                  world.accounts["tz"][individuals].tolist(), strict=True))
    legit = demo_small.rows_of(list(tz))
    offsets = np.array([tz[a] for a in legit["account_id"].to_pylist()])
    local_hours = ((legit["ts_ms"].to_numpy() // HOUR_MS) + np.round(offsets)).astype(int)
    assert _peak_to_trough(local_hours) > 4

    a = demo_small.rows_of(demo_small.campaign("A")["accounts"])
    utc_hours = (a["ts_ms"].to_numpy() // HOUR_MS).astype(int)
    assert _peak_to_trough(utc_hours) < 1.25
    # ...and it has none in any time zone either: shifting a flat histogram keeps it flat.
    daily = np.bincount(utc_hours % 24, minlength=24)
    assert daily.std() / daily.mean() < 0.08


def test_templates_cross_organisations_only_inside_one_campaign(demo_small):
    table = demo_small.requests.filter(pc.is_valid(demo_small.requests["template_hash"]))
    campaign_of = {a: c["id"] for c in demo_small.truth["campaigns"] for a in c["accounts"]}
    orgs: dict[str, set] = {}
    owners: dict[str, set] = {}
    for template, org, account in zip(table["template_hash"].to_pylist(),
                                      table["org_id"].to_pylist(),
                                      table["account_id"].to_pylist(), strict=True):
        orgs.setdefault(template, set()).add(org)
        owners.setdefault(template, set()).add(campaign_of.get(account, "not a campaign"))
    shared = [t for t, o in orgs.items() if len(o) > 1]
    assert shared, "campaigns should reuse templates across their accounts' organisations"
    for template in shared:
        assert len(owners[template]) == 1 and "not a campaign" not in owners[template], template


def test_each_enterprise_shares_one_internal_template_inside_its_org(demo_small):
    table = demo_small.requests
    for group in demo_small.truth["hard_negatives"]:
        if group["kind"] != "enterprise":
            continue
        rows = demo_small.rows_of(group["accounts"])
        rows = rows.filter(pc.is_valid(rows["template_hash"]))
        assert len(set(rows["org_id"].to_pylist())) == 1
        counts = pc.value_counts(rows["template_hash"]).to_pylist()
        top = max(counts, key=lambda c: c["counts"])
        users = rows.filter(pc.equal(rows["template_hash"], top["values"]))["account_id"]
        assert len(set(users.to_pylist())) >= 0.5 * len(group["accounts"])
        outside = table.filter(pc.equal(table["template_hash"], top["values"]))
        assert set(outside["account_id"].to_pylist()) <= set(group["accounts"])


def test_hard_negative_groups_really_share_addresses(demo_small):
    for group in demo_small.truth["hard_negatives"]:
        ips = set(demo_small.rows_of(group["accounts"])["ip"].to_pylist())
        assert len(ips) <= 4, group["id"]
        if len(group["accounts"]) > 5:  # many people behind one NAT or egress
            assert len(ips) < len(group["accounts"]) / 5, group["id"]


def test_campaign_a_rotates_over_many_subnets_asns_and_ip_types(demo_small):
    a = demo_small.rows_of(demo_small.campaign("A")["accounts"])
    subnets = {ip.rsplit(".", 1)[0] for ip in a["ip"].to_pylist()}
    assert len(subnets) > 100
    types = pc.value_counts(a["ip_type"]).to_pylist()
    shares = {t["values"]: t["counts"] / a.num_rows for t in types}
    assert 0.4 < shares["residential"] < 0.7 and shares["proxy"] < 0.3 and shares["hosting"] > 0.05
    assert set(pc.unique(a["country"]).to_pylist()) & {"CN"}  # the rare leak past the block


def test_campaign_template_fills_are_simhash_near_duplicates(demo_small):
    a = demo_small.rows_of(demo_small.campaign("A")["accounts"])
    a = a.filter(pc.is_valid(a["template_hash"]))
    counts = pc.value_counts(a["template_hash"]).to_pylist()
    template = max(counts, key=lambda c: c["counts"])["values"]
    fills = a.filter(pc.equal(a["template_hash"], template))["prompt_simhash"].to_pylist()
    values = np.array([int(s, 16) for s in fills], dtype=np.uint64)
    # The template's own simhash is the bitwise majority of its fills; each fill is <= 3 away.
    bits = np.unpackbits(values.view(np.uint8).reshape(-1, 8), axis=1)
    centre = np.packbits(bits.mean(axis=0) > 0.5).view(np.uint64)[0]
    assert hamming(values, np.full(values.size, centre)).max() <= 3
    others = np.array([int(s, 16) for s in demo_small.requests.filter(pc.is_null(
        demo_small.requests["template_hash"]))["prompt_simhash"].to_pylist()[:2000]], np.uint64)
    assert np.median(hamming(others, np.full(others.size, centre))) > 20
    assert len(fills) > 50


def test_campaign_b_moves_half_its_traffic_to_the_new_model_within_a_day(demo_small):
    b = demo_small.campaign("B")
    rows = demo_small.rows_of(b["accounts"])
    release = int(np.datetime64(b["new_model_release"].rstrip("Z"), "ms").astype(np.int64))
    ts, model = rows["ts_ms"].to_numpy(), np.array(rows["model"].to_pylist())
    assert not (model[ts < release] == b["new_model"]).any()
    after = (ts > release + 24 * HOUR_MS) & (ts < release + 72 * HOUR_MS)
    assert 0.4 < (model[after] == b["new_model"]).mean() < 0.6
    everyone = demo_small.requests
    legit_share = pc.mean(pc.equal(everyone.filter(pc.greater(
        everyone["ts_ms"], release + 24 * HOUR_MS))["model"], b["new_model"])).as_py()
    assert legit_share < 0.2


def test_campaign_c_turns_to_reasoning_trace_elicitation_in_its_later_weeks(demo_small):
    c = demo_small.rows_of(demo_small.campaign("C")["accounts"])
    late = pc.greater_equal(c["ts_ms"], int(np.datetime64("2026-04-29", "ms").astype(np.int64)))
    early_share = pc.mean(c.filter(pc.invert(late))["reasoning_requested"]).as_py()
    late_share = pc.mean(c.filter(late)["reasoning_requested"]).as_py()
    assert late_share > early_share + 0.3


def test_bans_are_followed_by_suspensions_and_replacement_sign_up_bursts(tiny):
    import json

    updates = []
    for path in sorted(tiny.path.glob("accounts-2026-*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record.get("status") == "suspended":
                updates.append(record["account_id"])
    a = set(tiny.campaign("A")["accounts"])
    assert len(a & set(updates)) >= 0.1 * len(a)
    signed_up_in_window = {
        json.loads(line)["account_id"]
        for path in tiny.path.glob("accounts-2026-*.jsonl")
        for line in path.read_text().splitlines() if "email" in json.loads(line)
    }
    assert len(a & signed_up_in_window) >= 0.1 * len(a)


def test_no_identifier_reveals_a_label(tiny):
    table = tiny.requests
    # Ids are upper-case base32, so a lower-case word can only be put there on purpose; the
    # upper-case long words are too long to occur by chance (32**6 and up).
    forbidden = re.compile(r"camp|legit|bot|fraud|attack|hydra|enterprise|univ|reseller|"
                           r"negative|cover|CAMPAIGN|LEGIT|FRAUD|ATTACK|HYDRA|(?:group|set)[_-]?[a-f]\b")
    assert all(re.fullmatch(r"acct_[0-9A-Z]{12}", a) for a in pc.unique(table["account_id"]).to_pylist())
    assert all(re.fullmatch(r"req_[0-9A-Z]{20}", r) for r in table["request_id"].to_pylist()[:5000])
    for column in ("account_id", "request_id", "org_id", "template_hash", "ip"):
        values = pc.unique(table[column].drop_null()).to_pylist()
        assert not [v for v in values if forbidden.search(v)], column
    # Campaign and legitimate ids are drawn alike: same alphabet, same length.
    a = tiny.campaign("A")["accounts"]
    assert {len(x) for x in a} == {17}


def test_unknown_preset_and_bad_scale_are_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        get_preset("huge")
    with pytest.raises(ValueError, match="positive"):
        get_preset("tiny", 0)
    assert set(PRESETS) == {"tiny", "demo", "seed"}


def test_seed_preset_has_the_reported_scale():
    seed = PRESETS["seed"]
    assert seed.campaigns["A"].accounts == 25_000 and seed.campaigns["A"].requests == 28_800_000
    assert seed.campaigns["B"].requests == 13_000_000 and seed.campaigns["C"].requests == 3_400_000
    assert seed.campaigns["D"].requests == 150_000
    assert seed.legit.accounts >= 100_000 and seed.total_requests() > 50_000_000
    demo = PRESETS["demo"].total_requests()
    assert 2_000_000 <= demo <= 4_000_000
    assert 10_000 <= PRESETS["tiny"].total_requests() < 100_000
    assert pa  # keep pyarrow import used for readers
