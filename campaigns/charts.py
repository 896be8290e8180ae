"""Plotly figures built in Python from rollups; pages hand the JSON to a plotly.js served
from static/. No figure ever reads the request table.

Figures are plain dicts in Plotly's JSON schema rather than ``plotly.graph_objects``: the
validation graph_objects does costs hundreds of milliseconds for a six-week hourly stack,
which a page that must answer in under 300 ms cannot pay on every view."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import orjson
from django.utils.safestring import SafeString, mark_safe

FONT = {"family": "system-ui, sans-serif", "size": 12, "color": "#1b1f24"}
# Okabe-Ito and friends: distinguishable for colour-blind readers.
COLORWAY = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
            "#999999", "#882255", "#44AA99"]
TOP_KEYS = 10


def _layout(**extra) -> dict:
    layout = {"font": FONT, "colorway": COLORWAY, "margin": {"l": 55, "r": 15, "t": 30, "b": 45},
              "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff", "height": 340,
              "legend": {"orientation": "h", "y": -0.2}}
    layout.update(extra)
    return layout


class Figure(dict):
    """A Plotly figure as a dict: {"data": [...], "layout": {...}}."""

    def __init__(self, *traces):
        super().__init__(data=list(traces), layout={})

    def add(self, trace: dict) -> None:
        self["data"].append(trace)

    def update_layout(self, layout: dict) -> None:
        self["layout"].update(layout)


def to_json(fig: Figure) -> SafeString:
    """The figure as JSON that is safe inside <script type="application/json">."""
    text = orjson.dumps(fig, option=orjson.OPT_NON_STR_KEYS).decode()
    return mark_safe(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _top_keys(rows, limit: int = TOP_KEYS) -> list[str]:
    totals: dict[str, int] = defaultdict(int)
    for _, key, n in rows:
        totals[key] += n
    return [k for k, _ in sorted(totals.items(), key=lambda kv: -kv[1])][:limit]


def timeline(rows: list[tuple[datetime, str, int]], start: datetime, end: datetime, by: str) -> Figure:
    """Requests per hour stacked by category or model; the x range is the window asked for."""
    keys = _top_keys(rows)
    series: dict[str, dict[datetime, int]] = {k: {} for k in keys}
    other: dict[datetime, int] = defaultdict(int)
    for hour, key, n in rows:
        if key in series:
            series[key][hour] = series[key].get(hour, 0) + n
        else:
            other[hour] += n
    if other:
        series[{"category": "other categories"}.get(by, f"other {by}s")] = dict(other)
    labels = {h: h.strftime("%Y-%m-%d %H:%M") for h in {h for points in series.values() for h in points}}
    fig = Figure()
    for name, points in series.items():
        hours = sorted(points)
        fig.add({"type": "bar", "x": [labels[h] for h in hours], "y": [points[h] for h in hours], "name": name,
                    "hovertemplate": "%{x}<br>%{y} requests<extra>" + name + "</extra>"})
    fig.update_layout(_layout(barmode="stack", bargap=0, dragmode="zoom",
                              xaxis={"type": "date", "range": [start.strftime("%Y-%m-%d %H:%M"),
                                                               end.strftime("%Y-%m-%d %H:%M")],
                                     "title": {"text": "hour (UTC)"}},
                              yaxis={"title": {"text": "requests per hour"}, "fixedrange": True}))
    return fig


def heatmap(rows: list[tuple[datetime, str, int]]) -> Figure:
    """Hour of day (UTC) against day: machine-regular traffic shows no daily rhythm."""
    per_hour: dict[datetime, int] = defaultdict(int)
    for hour, _, n in rows:
        per_hour[hour] += n
    if per_hour:
        first = min(per_hour).date()
        last = max(per_hour).date()
    else:
        first = last = datetime.now().date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    index = {d: i for i, d in enumerate(days)}
    z = [[0] * len(days) for _ in range(24)]
    for hour, n in per_hour.items():
        z[hour.hour][index[hour.date()]] += n
    fig = Figure({"type": "heatmap", "x": [d.isoformat() for d in days], "y": list(range(24)), "z": z, "colorscale": "Blues",
                               "colorbar": {"title": {"text": "requests"}},
                               "hovertemplate": "%{x} %{y}:00<br>%{z} requests<extra></extra>"})
    fig.update_layout(_layout(yaxis={"title": {"text": "hour of day (UTC)"}, "dtick": 3},
                              xaxis={"title": {"text": "day"}}))
    return fig


def mix(campaign: dict[str, int], baseline: dict[str, int]) -> Figure:
    """Share of requests per category: the campaign against all traffic in the same window."""
    total_c = sum(campaign.values()) or 1
    total_b = sum(baseline.values()) or 1
    keys = sorted(set(campaign) | set(baseline), key=lambda k: -campaign.get(k, 0))
    fig = Figure()
    fig.add({"type": "bar", "y": keys, "x": [100 * campaign.get(k, 0) / total_c for k in keys], "name": "this campaign", "orientation": "h",
                "hovertemplate": "%{y}: %{x:.1f}%<extra>campaign</extra>"})
    fig.add({"type": "bar", "y": keys, "x": [100 * baseline.get(k, 0) / total_b for k in keys], "name": "all traffic", "orientation": "h",
                "hovertemplate": "%{y}: %{x:.1f}%<extra>all traffic</extra>"})
    fig.update_layout(_layout(barmode="group", xaxis={"title": {"text": "share of requests (%)"}, "fixedrange": True},
                              yaxis={"autorange": "reversed", "fixedrange": True},
                              height=max(300, 26 * len(keys) + 90)))
    return fig


def traffic_overview(total: list[tuple[datetime, int]], campaign: list[tuple[datetime, int]]) -> Figure:
    fig = Figure()
    fig.add({"type": "scatter", "x": [d.strftime("%Y-%m-%d") for d, _ in total], "y": [n for _, n in total], "name": "all traffic",
                    "mode": "lines", "line": {"width": 2}})
    fig.add({"type": "scatter", "x": [d.strftime("%Y-%m-%d") for d, _ in campaign], "y": [n for _, n in campaign],
                    "name": "members of open campaigns", "mode": "lines", "fill": "tozeroy", "line": {"width": 2}})
    fig.update_layout(_layout(xaxis={"type": "date", "title": {"text": "day (UTC)"}},
                              yaxis={"title": {"text": "requests per day"}, "rangemode": "tozero"}))
    return fig
