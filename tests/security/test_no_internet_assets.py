"""Pages load nothing from the internet: templates and our own scripts name no outside host,
and vendored plotly.js is the cartesian build: no map code, and its only outside host that code
could reach is the Chart Studio link, a config default our page script turns off (the vendored
file's topojson default was edited to a local path)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"https?://(?!127\.0\.0\.1|localhost)[\w.-]+")
# The config default copycat.js overrides: the Chart Studio link (showLink). The rest are licence
# and documentation references in comments and error messages, which nothing fetches.
PLOTLY_REACHABLE = {"cloud.plotly.com"}
PLOTLY_REFERENCES = {"feross.org", "getify.mit-license.org", "syntheti.cc", "github.com", "plotly.com", "www.w3.org"}


def test_templates_and_our_scripts_name_no_outside_host():
    files = [*ROOT.glob("templates/**/*.html"), *ROOT.glob("static/js/*.js"), *ROOT.glob("static/css/*.css")]
    assert files
    for path in files:
        assert not OUTSIDE.findall(path.read_text()), path


def test_vendored_plotly_is_the_cartesian_build_and_its_outside_defaults_are_overridden():
    plotly = (ROOT / "static/vendor/plotly.min.js").read_text()
    assert "plotly.js (cartesian - minified)" in plotly[:200]
    hosts = set(re.findall(r"https?://([\w.-]+)", plotly))
    assert hosts <= PLOTLY_REACHABLE | PLOTLY_REFERENCES, hosts - PLOTLY_REACHABLE - PLOTLY_REFERENCES
    script = (ROOT / "static/js/copycat.js").read_text()
    assert "showLink: false" in script
    charts = "".join(p.read_text() for p in ROOT.glob("*/charts.py"))
    assert charts and not re.search(r"Scatter(geo|mapbox|map)\b|Choropleth|Densitymap", charts)
    assert 'topojsonURL: "/static/vendor/topojson/"' in (ROOT / "static/js/copycat.js").read_text()
    assert 'topojsonURL:{valType:"string",noBlank:!0,dflt:"/static/vendor/topojson/"}' in plotly
