"""python manage.py verify_audit: check the audit trail's hash chain end to end."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from campaigns.audit import verify_chain
from campaigns.models import AuditEvent


class Command(BaseCommand):
    help = "Recompute the audit trail's hash chain; exit 1 and name each broken event if it does not hold."

    def handle(self, *args, **options):
        problems = verify_chain()
        total = AuditEvent.objects.count()
        if problems:
            for problem in problems:
                self.stdout.write(self.style.ERROR(problem))
            self.stdout.write(self.style.ERROR(f"audit trail BROKEN: {len(problems)} problem(s) in {total} events"))
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(f"audit trail intact: {total} events, chain verified"))
