"""Pages load nothing from the internet: templates and our own scripts name no outside host,
and the only outside URLs inside vendored plotly.js belong to map traces Copycat never draws."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"https?://(?!127\.0\.0\.1|localhost)[\w.-]+")
# Map traces only: topojson for geo maps, maki icons for mapbox layers.
PLOTLY_KNOWN = {"https://cdn.plot.ly", "https://cdn.jsdelivr.net"}


def test_templates_and_our_scripts_name_no_outside_host():
    files = [*ROOT.glob("templates/**/*.html"), *ROOT.glob("static/js/*.js"), *ROOT.glob("static/css/*.css")]
    assert files
    for path in files:
        assert not OUTSIDE.findall(path.read_text()), path


def test_vendored_plotly_names_only_its_map_cdns_and_maps_are_never_drawn():
    plotly = (ROOT / "static/vendor/plotly.min.js").read_text()
    assert set(re.findall(r"https://cdn\.[\w.]+", plotly)) <= PLOTLY_KNOWN
    charts = "".join(p.read_text() for p in ROOT.glob("*/charts.py"))
    assert charts and not re.search(r"Scatter(geo|mapbox|map)\b|Choropleth|Densitymap", charts)
    assert 'topojsonURL: "/static/vendor/topojson/"' in (ROOT / "static/js/copycat.js").read_text()
