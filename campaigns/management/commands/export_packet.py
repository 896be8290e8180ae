"""python manage.py export_packet CAMPAIGN --out FILE.zip [--redaction on|off] [--reason TEXT] [--user NAME]"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from campaigns.errors import ServiceError
from campaigns.evidence import service
from campaigns.models import Campaign
from copycat.text import is_whole_number


class Command(BaseCommand):
    help = ("Build a signed evidence packet (ZIP) for one campaign, in the foreground. Personal data is "
            "redacted unless --redaction off, which needs --user (a lead) and --reason.")

    def add_arguments(self, parser):
        parser.add_argument("campaign", help="campaign id or exact name")
        parser.add_argument("--out", required=True, help="path of the ZIP to write")
        parser.add_argument("--redaction", choices=("on", "off"), default="on")
        parser.add_argument("--reason", default="", help="why personal data is in clear (needed with --redaction off)")
        parser.add_argument("--user", default=None, help="user name the export is made as (recorded in the audit trail)")

    def handle(self, *args, **opts):
        campaign = _campaign(opts["campaign"])
        user = None
        if opts["user"]:
            try:
                user = get_user_model().objects.get(username=opts["user"])
            except get_user_model().DoesNotExist:
                raise CommandError(f"No user named {opts['user']!r}.") from None
        out = Path(opts["out"])
        if out.is_dir():
            raise CommandError(f"--out {out} is a directory; give the path of the ZIP file to write.")
        try:
            packet = service.export_now(campaign, out, user=user, redacted=opts["redaction"] == "on",
                                        reason=opts["reason"])
        except PermissionDenied as exc:
            raise CommandError(f"{exc} Use --user with a lead account.") from exc
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        m = packet.manifest
        self.stdout.write(f"Wrote {out} ({packet.size_bytes:,} bytes, sha256 {packet.sha256}): packet {packet.pk}, "
                          f"campaign {campaign.pk} {campaign.name!r}, {m['campaign']['member_accounts']} members, "
                          f"{m['campaign']['requests']:,} requests, redaction {m['redaction']['mode']}.")


def _campaign(ref: str) -> Campaign:
    if is_whole_number(ref):
        found = Campaign.objects.filter(pk=int(ref)).first()
        if found:
            return found
    named = list(Campaign.objects.filter(name=ref)[:2])
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise CommandError(f"More than one campaign is named {ref!r}; give its id.")
    raise CommandError(f"No campaign with id or name {ref!r}.")
