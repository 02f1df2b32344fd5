// Draws the charts whose data a page embeds as <script type="application/json" class="chart-data"
// data-target="element id">{"data": [...], "layout": {...}}</script>, with the Plotly bundle served
// by Charter itself (/static/vendor/plotly.min.js): no CDN, so the dashboard works offline.
(function () {
  "use strict";
  function draw() {
    if (typeof Plotly === "undefined") { return; }
    document.querySelectorAll("script.chart-data").forEach(function (node) {
      var target = document.getElementById(node.dataset.target);
      if (!target) { return; }
      var spec = JSON.parse(node.textContent);
      Plotly.newPlot(target, spec.data, spec.layout || {}, { displayModeBar: false, responsive: true });
      target.dataset.drawn = "true";
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
