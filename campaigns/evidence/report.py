"""report.html (self-contained: inline CSS, charts as inline SVG, no script) and report.pdf,
rendered by WeasyPrint from the very same HTML.

The report names no packet id or build time, only the snapshot, so two packets of one
snapshot carry identical reports; the PDF's dates come from the snapshot too.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from django.template import Context, Template

from campaigns.evidence import charts
from campaigns.evidence.csvs import Scope
from campaigns.evidence.redaction import Redactor
from campaigns.models import Campaign, Membership, Note, Signal

TEMPLATE = Path(__file__).with_name("report.html")
MEMBERS_SHOWN = 200
INFRA_SHOWN = 10
INFRA_KINDS = ("ip_network", "ip", "asn", "country", "ip_type", "payment_fingerprint", "device_fingerprint",
               "signup_network", "email_domain", "client_fingerprint", "user_agent", "template_hash")


def _top_infrastructure(infra_csv: Path) -> list[dict]:
    groups: dict[str, list[dict]] = {}
    with open(infra_csv, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            rows = groups.setdefault(row["kind"], [])
            if len(rows) < INFRA_SHOWN:
                rows.append(row)
    return [{"kind": k, "rows": groups[k]} for k in INFRA_KINDS if k in groups]


def _signal_line(signal: dict, redactor: Redactor) -> str:
    text = signal.get("text") or f"{signal.get('kind', '')} {signal.get('value', '')}".strip()
    return redactor.scrub(str(text))


def _members(campaign_id: int, redactor: Redactor) -> list[dict]:
    rows = (Membership.objects.filter(campaign_id=campaign_id).select_related("account")
            .order_by("-active", "-confidence", "account__account_id")[:MEMBERS_SHOWN])
    return [{"account": m.account.account_id, "active": m.active, "source": m.source,
             "confidence": f"{m.confidence:.2f}",
             "why": redactor.scrub(m.explanation or m.reason or (m.removed_reason if not m.active else "")),
             "signals": [_signal_line(s, redactor) for s in (m.signals or [])[:5] if isinstance(s, dict)]}
            for m in rows]


def render_html(*, campaign: Campaign, scope: Scope, redactor: Redactor, reason: str, snapshot_event_id: int | None,
                snapshot_at: datetime, infra_csv: Path, figures: dict) -> str:
    notes = Note.objects.filter(campaign=campaign, created_at__lte=snapshot_at).select_related("author").order_by(
        "created_at", "id")
    signals = [{"kind": s.kind, "value": redactor.scrub(s.value), "member_count": s.member_count,
                "total_count": s.total_count, "weight": f"{s.weight:.2f}", "text": redactor.scrub(s.text)}
               for s in Signal.objects.filter(campaign=campaign).order_by("-weight", "kind", "value")[:30]]
    prompts = [(ts, acct, cat or "", tpl or "", text or "")
               for _rid, ts, acct, cat, tpl, _reasoning, text in figures["prompts"]]
    context = {
        "campaign": campaign, "redacted": redactor.enabled, "reason": redactor.scrub(reason),
        "snapshot_event_id": snapshot_event_id, "snapshot_iso": snapshot_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "score": f"{campaign.score:.3f}", "members_active": f"{len(scope.account_ids):,}",
        "members_removed": figures["members_removed"], "requests": f"{figures['requests']:,}",
        "tokens_in": f"{figures['tokens_in']:,}", "tokens_out": f"{figures['tokens_out']:,}",
        "window_start": scope.start.strftime("%Y-%m-%d %H:%M") if scope.start else "none",
        "window_end": scope.end.strftime("%Y-%m-%d %H:%M") if scope.end else "none",
        "attribution": redactor.scrub(campaign.attribution), "assignee": campaign.assignee.get_username() if campaign.assignee else "",
        "summary": redactor.scrub(campaign.summary), "explanation": redactor.scrub(campaign.explanation),
        "signals": signals, "infrastructure": _top_infrastructure(infra_csv),
        "members": _members(campaign.pk, redactor), "members_total": figures["members_total"],
        "members_shown": min(MEMBERS_SHOWN, figures["members_total"]), "prompts": prompts,
        "notes": [{"author": n.author.get_username() if n.author else "deleted user",
                   "at": n.created_at.strftime("%Y-%m-%d %H:%M UTC"), "text": redactor.scrub(n.text)} for n in notes],
        "charts": {
            "timeline": charts.timeline_svg(charts.hourly(figures["timeline"])),
            "models": charts.models_svg(charts.model_by_day(figures["timeline"])),
            "heatmap": charts.heatmap_svg(charts.heat(figures["timeline"])),
            "mix": charts.mix_svg(charts.capability_mix(figures["timeline"], scope)),
        },
    }
    return Template(TEMPLATE.read_text(encoding="utf-8")).render(Context(context, autoescape=True))


def write_pdf(html: str, path: Path) -> None:
    """Paginate the same HTML; dates come from its dcterms meta tags, so output is repeatable."""
    import weasyprint

    weasyprint.HTML(string=html).write_pdf(str(path), pdf_identifier=b"copycat-evidence-report")
