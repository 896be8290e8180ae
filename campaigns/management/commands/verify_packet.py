"""python manage.py verify_packet FILE.zip [--expect-key PEM_FILE | --expect-server-key]"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from campaigns.evidence.verify import verify_packet


class Command(BaseCommand):
    help = ("Check an evidence packet: every file's SHA-256 and size against the manifest, missing and extra "
            "files, the Ed25519 signature of manifest.json, and the custody hash chain. Exit 0 valid, 1 invalid.")

    def add_arguments(self, parser):
        parser.add_argument("packet", help="the packet ZIP")
        parser.add_argument("--expect-key", default=None,
                            help="PEM public key the packet must be signed with ('server' for this server's key)")

    def handle(self, *args, **opts):
        path = Path(opts["packet"])
        if not path.is_file():
            raise CommandError(f"No file at {path}.")
        expected = None
        if opts["expect_key"] == "server":
            from campaigns.evidence.service import public_key_pem

            expected = public_key_pem()
        elif opts["expect_key"]:
            try:
                expected = Path(opts["expect_key"]).read_bytes()
            except OSError as exc:
                raise CommandError(f"Cannot read --expect-key {opts['expect_key']}: {exc}") from exc
        problems = verify_packet(path, expect_key_pem=expected)
        if problems:
            for problem in problems:
                self.stdout.write(f"FAIL {problem}")
            self.stdout.write(f"{path}: INVALID ({len(problems)} problem{'s' if len(problems) != 1 else ''})")
            raise SystemExit(1)
        self.stdout.write(f"{path}: valid (every hash, the signature and the custody chain check out)")
