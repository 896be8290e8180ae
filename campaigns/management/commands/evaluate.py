"""python manage.py evaluate --truth ground_truth.json [--json]: detection against a truth file."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from campaigns.detection.evaluation import evaluate


class Command(BaseCommand):
    requires_system_checks: list = []  # a detection run must not depend on URL and API configuration
    help = "Compare current campaigns with a simulator ground truth: per-campaign match, overall P/R/F1, " \
           "false positives per hard-negative group."

    def add_arguments(self, parser):
        parser.add_argument("--truth", required=True, help="ground_truth.json written by generate_traffic")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args, **options):
        path = Path(options["truth"])
        if not path.is_file():
            raise CommandError(f"no such file: {path}; pass the ground_truth.json that generate_traffic wrote.")
        result = evaluate(json.loads(path.read_text()))
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
            return
        for c in result["campaigns"]:
            self.stdout.write(f"{c['id']:>4} ({c['accounts']:>6} accounts): best match {c['match'] or '-'} "
                              f"precision {c['precision']:.3f} recall {c['recall']:.3f} F1 {c['f1']:.3f}")
        o = result["overall"]
        self.stdout.write(f"overall: precision {o['precision']:.4f} recall {o['recall']:.4f} F1 {o['f1']:.4f} "
                          f"(flagged {o['flagged']}, true {o['true_positives']}, planted {o['planted']})")
        for h in result["hard_negatives"]:
            self.stdout.write(f"hard negative {h['id']} ({h['kind']}, {h['accounts']} accounts): "
                              f"{h['flagged']} flagged ({h['share']:.2%})")
