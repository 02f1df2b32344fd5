"""The charting library is served by Charter itself (offline dashboards), and only the files listed."""

from __future__ import annotations

from fastapi.testclient import TestClient

from charter.web.vendor import plotly_css, plotly_style_guards


def test_the_plotly_bundle_and_its_stylesheet_are_served_and_nothing_else(client: TestClient) -> None:
    bundle = client.get("/static/vendor/plotly.min.js")
    assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("text/javascript")
    assert b"plotly.js v" in bundle.content[:200]
    css = client.get("/static/vendor/plotly.css")
    assert css.status_code == 200 and ".js-plotly-plot .plotly .main-svg {position:absolute" in css.text
    for other in ("widgetbundle.js", "..%2F__init__.py", "datasets/iris.csv.gz", "plotly.min.js.map"):
        assert client.get(f"/static/vendor/{other}").status_code == 404, other
    assert client.post("/static/vendor/plotly.min.js").status_code == 404


def test_the_stylesheet_and_guards_come_from_the_bundle_itself() -> None:
    rules = plotly_css().splitlines()
    assert len(rules) > 20 and all(rule.startswith((".js-plotly-plot", ".plotly-notifier")) for rule in rules)
    guards = plotly_style_guards()
    assert guards and all(len(guard) == 64 for guard in guards)
