"""python manage.py generate_traffic --out DIR [--preset tiny|demo|seed] [--seed N] [--scale X]"""

from __future__ import annotations

import orjson
from django.core.management.base import BaseCommand, CommandError

from ingest.simulator import PRESETS, OutputDirError, generate


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "Write six weeks of simulated API traffic (accounts and requests in the log format, "
        "with planted campaigns) and ground_truth.json into a directory."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, metavar="DIR",
                            help="directory to write into: new, empty, or a previous run's")
        parser.add_argument("--preset", default="demo", choices=sorted(PRESETS),
                            help="size of the world (default: demo)")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
        parser.add_argument("--scale", type=positive_float, default=1.0,
                            help="multiply the preset's accounts and requests (default: 1)")
        parser.add_argument("--quiet", action="store_true", help="print only the summary")

    def handle(self, *args, **options):
        progress = None if options["quiet"] else (lambda line: self.stderr.write(line))
        try:
            summary = generate(options["out"], options["preset"], options["seed"],
                               options["scale"], progress=progress)
        except (OutputDirError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(orjson.dumps(summary).decode())
