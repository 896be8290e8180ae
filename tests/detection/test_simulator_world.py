"""End to end on the simulator's tiny world: generate, ingest, detect, evaluate."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from campaigns.detection.evaluation import evaluate
from campaigns.detection.service import run_detection
from ingest.services import ingest_path

pytestmark = pytest.mark.django_db(transaction=True)


def test_tiny_world_campaigns_are_found_as_one_each_and_hard_negatives_are_left_alone(tmp_path):
    out = tmp_path / "world"
    call_command("generate_traffic", out=str(out), preset="tiny", seed=3)
    for path in sorted(out.iterdir()):
        if path.name.startswith(("accounts", "requests")):
            ingest_path(str(path))
    run = run_detection()
    assert run.status == "done"
    result = evaluate(json.loads((out / "ground_truth.json").read_text()))
    assert result["overall"]["precision"] >= 0.97
    assert result["overall"]["recall"] >= 0.95
    for campaign in result["campaigns"]:
        assert campaign["f1"] >= 0.9, campaign
    for group in result["hard_negatives"]:
        assert group["flagged"] == 0, group
