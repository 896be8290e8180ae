"""Charts for the report, drawn as plain SVG from the packet's hourly timeline.

Hand-drawn SVG keeps the report self-contained (no script, opens offline), renders the same
in a browser and in WeasyPrint's PDF, and is byte-for-byte deterministic. The campaign's
figures come from the rows of ``timeline_hourly.csv`` (one per hour, model and category, read
back once: at seed the members' ``account_hour`` rows are gigabytes, read from disk for every
query); only the whole traffic's mix reads ``traffic_hour``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from html import escape

from django.db import connection

from campaigns.evidence.csvs import HourRow, Scope

W, H = 720, 240
PAD_L, PAD_R, PAD_T, PAD_B = 56, 12, 16, 36
PALETTE = ("#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477", "#66aa00", "#b82e2e",
           "#316395", "#994499", "#22aa99")
DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


def _rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _sums(rows: list[HourRow], key, *fields: str) -> dict:
    out: dict = defaultdict(lambda: [0] * len(fields))
    for row in rows:
        acc = out[key(row)]
        for i, field in enumerate(fields):
            acc[i] += getattr(row, field)
    return out


def hourly(rows: list[HourRow]) -> list[tuple[datetime, int, int]]:
    sums = _sums(rows, lambda r: r.hour, "requests", "reasoning_requests")
    return [(hour, n, reasoning) for hour, (n, reasoning) in sorted(sums.items())]


def heat(rows: list[HourRow]) -> dict[tuple[int, int], int]:
    """Requests per (day of week, Sunday 0, hour of day), in UTC."""
    sums = _sums(rows, lambda r: (r.hour.isoweekday() % 7, r.hour.hour), "requests")
    return {cell: n for cell, (n,) in sums.items()}


def capability_mix(rows: list[HourRow], scope: Scope) -> list[tuple[str, float, float]]:
    """(category, share of the campaign's requests, share of all traffic in the window)."""
    camp = {cat: n for cat, (n,) in _sums(rows, lambda r: r.category, "requests").items()}
    base = dict(_rows("SELECT c.value, sum(t.requests) FROM traffic_hour t "
                      "JOIN lookup_category c ON c.id = t.category_id "
                      "WHERE t.hour >= date_trunc('hour', %s::timestamptz) AND t.hour <= %s GROUP BY c.value",
                      [scope.start, scope.end])) if scope.start else {}
    ct, bt = sum(camp.values()) or 1, sum(base.values()) or 1
    names = sorted(set(camp) | set(base), key=lambda n: (-camp.get(n, 0), n))
    return [(n or "(none)", camp.get(n, 0) / ct, base.get(n, 0) / bt) for n in names]


def model_by_day(rows: list[HourRow]) -> list[tuple[datetime, str, int]]:
    sums = _sums(rows, lambda r: (r.hour.replace(hour=0), r.model), "requests")
    return [(day, model, n) for (day, model), (n,) in sorted(sums.items())]


# --- drawing ------------------------------------------------------------------------------
def _svg(body: list[str], title: str, height: int = H) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="{W}" height="{height}" '
            f'role="img" aria-label="{escape(title)}" font-family="DejaVu Sans, sans-serif" font-size="10">'
            f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")


def _num(n: float) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1_000:
        return f"{n / 1_000:.1f}k"
    return f"{n:.0f}"


def _axes(ymax: float, height: int = H) -> list[str]:
    out = [f'<line x1="{PAD_L}" y1="{height - PAD_B}" x2="{W - PAD_R}" y2="{height - PAD_B}" stroke="#444"/>',
           f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{height - PAD_B}" stroke="#444"/>']
    for i in range(5):
        y = height - PAD_B - (height - PAD_T - PAD_B) * i / 4
        out.append(f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{PAD_L - 4}" y="{y + 3:.1f}" text-anchor="end">{_num(ymax * i / 4)}</text>')
    return out


def empty(title: str) -> str:
    return _svg([f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">No activity recorded</text>'], title)


def timeline_svg(points: list[tuple[datetime, int, int]]) -> str:
    """Requests per hour (filled) and reasoning-trace requests (line) over the window."""
    title = "Requests per hour"
    if not points:
        return empty(title)
    t0, t1 = points[0][0], points[-1][0]
    span = max((t1 - t0).total_seconds(), 3600)
    ymax = max(p[1] for p in points) or 1
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def xy(t, v):
        return PAD_L + pw * (t - t0).total_seconds() / span, H - PAD_B - ph * v / ymax

    area = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(t, v) for t, v, _ in points))
    first_x, last_x = xy(t0, 0)[0], xy(t1, 0)[0]
    reasoning = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(t, r) for t, _, r in points))
    body = _axes(ymax)
    body.append(f'<polygon points="{first_x:.1f},{H - PAD_B} {area} {last_x:.1f},{H - PAD_B}" '
                f'fill="#3366cc" fill-opacity="0.5" stroke="#3366cc" stroke-width="0.8"/>')
    body.append(f'<polyline points="{reasoning}" fill="none" stroke="#dc3912" stroke-width="1"/>')
    days = max(1, int(span // 86400))
    step = max(1, days // 8)
    day = datetime(t0.year, t0.month, t0.day, tzinfo=t0.tzinfo)
    while day <= t1:
        if day >= t0:
            x = xy(day, 0)[0]
            body.append(f'<line x1="{x:.1f}" y1="{H - PAD_B}" x2="{x:.1f}" y2="{H - PAD_B + 4}" stroke="#444"/>')
            body.append(f'<text x="{x:.1f}" y="{H - PAD_B + 15}" text-anchor="middle">{day:%b %d}</text>')
        day += timedelta(days=step)
    body.append(f'<rect x="{W - 250}" y="{PAD_T}" width="10" height="10" fill="#3366cc" fill-opacity="0.5"/>'
                f'<text x="{W - 236}" y="{PAD_T + 9}">all requests</text>'
                f'<rect x="{W - 150}" y="{PAD_T}" width="10" height="10" fill="#dc3912"/>'
                f'<text x="{W - 136}" y="{PAD_T + 9}">asking for reasoning</text>')
    body.append(f'<text x="{W / 2}" y="{H - 4}" text-anchor="middle">UTC</text>')
    return _svg(body, title)


def heatmap_svg(cells: dict[tuple[int, int], int]) -> str:
    """Requests by day of week and hour of day (UTC): a human team shows a daily rhythm."""
    title = "Requests by weekday and hour (UTC)"
    if not cells:
        return empty(title)
    height = 7 * 24 + PAD_T + PAD_B
    top = max(cells.values()) or 1
    cw = (W - PAD_L - PAD_R) / 24
    body = []
    for d in range(7):
        y = PAD_T + d * 24
        body.append(f'<text x="{PAD_L - 6}" y="{y + 15}" text-anchor="end">{DAYS[d]}</text>')
        for hr in range(24):
            share = cells.get((d, hr), 0) / top
            shade = int(255 - 215 * share)
            body.append(f'<rect x="{PAD_L + hr * cw:.1f}" y="{y}" width="{cw - 1:.1f}" height="23" '
                        f'fill="rgb({shade},{shade},255)"/>')
    for hr in range(0, 24, 3):
        body.append(f'<text x="{PAD_L + hr * cw + cw / 2:.1f}" y="{PAD_T + 7 * 24 + 14}" text-anchor="middle">'
                    f"{hr:02d}h</text>")
    body.append(f'<text x="{W - PAD_R}" y="{height - 4}" text-anchor="end">darkest cell: {_num(top)} requests</text>')
    return _svg(body, title, height)


def mix_svg(rows: list[tuple[str, float, float]]) -> str:
    """Share of each capability in the campaign against all traffic in the same window."""
    title = "Capability mix: campaign vs. all traffic"
    rows = rows[:12]
    if not rows:
        return empty(title)
    height = PAD_T + 22 * len(rows) + PAD_B
    left = 130
    pw = W - left - PAD_R - 50
    body = []
    for i, (name, camp, base) in enumerate(rows):
        y = PAD_T + i * 22
        body.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{escape(name)}</text>')
        body.append(f'<rect x="{left}" y="{y + 2}" width="{pw * camp:.1f}" height="9" fill="#dc3912"/>')
        body.append(f'<rect x="{left}" y="{y + 11}" width="{pw * base:.1f}" height="7" fill="#999"/>')
        body.append(f'<text x="{left + pw * max(camp, base) + 4:.1f}" y="{y + 13}">{camp:.0%} / {base:.0%}</text>')
    y = height - 14
    body.append(f'<rect x="{left}" y="{y - 9}" width="10" height="10" fill="#dc3912"/><text x="{left + 14}" y="{y}">'
                f'campaign</text><rect x="{left + 90}" y="{y - 9}" width="10" height="10" fill="#999"/>'
                f'<text x="{left + 104}" y="{y}">all traffic</text>')
    return _svg(body, title, height)


def models_svg(rows: list[tuple[datetime, str, int]]) -> str:
    """Requests per day stacked by model: a pivot to a new model shows as a colour change."""
    title = "Requests per day by model"
    if not rows:
        return empty(title)
    days = sorted({r[0] for r in rows})
    models = sorted({r[1] for r in rows})
    per = {(r[0], r[1]): int(r[2]) for r in rows}
    totals = {d: sum(per.get((d, m), 0) for m in models) for d in days}
    ymax = max(totals.values()) or 1
    pw, ph = W - PAD_L - PAD_R - 120, H - PAD_T - PAD_B
    bw = pw / len(days)
    body = _axes(ymax)
    for i, d in enumerate(days):
        y = H - PAD_B
        for j, m in enumerate(models):
            h = ph * per.get((d, m), 0) / ymax
            if h > 0:
                body.append(f'<rect x="{PAD_L + i * bw:.1f}" y="{y - h:.1f}" width="{max(bw - 1, 0.5):.1f}" '
                            f'height="{h:.1f}" fill="{PALETTE[j % len(PALETTE)]}"/>')
            y -= h
        if i % max(1, len(days) // 8) == 0:
            body.append(f'<text x="{PAD_L + i * bw + bw / 2:.1f}" y="{H - PAD_B + 15}" text-anchor="middle">'
                        f"{d:%b %d}</text>")
    for j, m in enumerate(models[:12]):
        y = PAD_T + j * 14
        body.append(f'<rect x="{W - 115}" y="{y}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
                    f'<text x="{W - 101}" y="{y + 9}">{escape(m[:18])}</text>')
    return _svg(body, title)
