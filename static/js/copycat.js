/* Copycat pages: draw Plotly figures handed over as JSON, and zoom timelines through HTMX.
 * No inline scripts anywhere: figures arrive in <script type="application/json"> blocks
 * (data, never executed) and this file draws every [data-figure] element it finds. */
(function () {
  "use strict";

  function readFigure(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function zoomParams(el, ev) {
    var params = new URLSearchParams(el.dataset.zoomParams || "");
    if (ev["xaxis.range[0]"] !== undefined && ev["xaxis.range[1]"] !== undefined) {
      params.set("start", ev["xaxis.range[0]"]);
      params.set("end", ev["xaxis.range[1]"]);
    } else if (Array.isArray(ev["xaxis.range"])) {
      params.set("start", ev["xaxis.range"][0]);
      params.set("end", ev["xaxis.range"][1]);
    } else if (ev["xaxis.autorange"]) {
      params.delete("start");
      params.delete("end");
    } else {
      return null;
    }
    return params;
  }

  function draw(el) {
    if (el.dataset.drawn || !window.Plotly) { return; }
    var fig = readFigure(el.dataset.figure);
    if (!fig) { return; }
    el.dataset.drawn = "1";
    // static/vendor/plotly.min.js is plotly.js's cartesian build (no map code). Two defaults in it
    // still name outside hosts: the topojson CDN (geo traces, not in this build) and the Chart
    // Studio link (off unless showLink); both are pinned to our origin or off here, and the CSP's
    // connect-src 'self' would refuse them anyway.
    var config = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["toImage", "sendDataToCloud"],
                   topojsonURL: "/static/vendor/topojson/", showLink: false, showEditInChartStudio: false };
    window.Plotly.newPlot(el, fig.data || [], fig.layout || {}, config).then(function () {
      if (!el.dataset.zoomUrl) { return; }
      el.on("plotly_relayout", function (ev) {
        var params = zoomParams(el, ev);
        if (!params) { return; }
        el.dispatchEvent(new CustomEvent("copycat:zoom", { bubbles: true, detail: params.toString() }));
        window.htmx.ajax("GET", el.dataset.zoomUrl + "?" + params.toString(),
                         { target: el.dataset.zoomTarget, swap: "innerHTML" });
      });
    });
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-figure]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSettle", function (ev) { drawAll(ev.target); });

  // "Select all" for bulk actions: a checkbox with data-select-all="name".
  document.addEventListener("change", function (ev) {
    var box = ev.target;
    if (!box.dataset || !box.dataset.selectAll) { return; }
    document.querySelectorAll('input[type=checkbox][name="' + box.dataset.selectAll + '"]')
      .forEach(function (other) { other.checked = box.checked; });
  });
})();
