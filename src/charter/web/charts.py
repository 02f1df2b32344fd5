"""Chart specifications (Plotly's JSON: data and layout) built from stored results.

The page embeds the JSON; ``static/charts.js`` draws it with the Plotly bundle Charter serves itself.
Only data goes into the page, never script: the Content-Security-Policy stays ``script-src 'self'``.
"""

from __future__ import annotations

from typing import Any

import orjson
from markupsafe import Markup

RATES = (
    ("selection_rate", "Selection rate", "#2f5fb3"),
    ("true_positive_rate", "True positive rate", "#2e8b57"),
    ("false_positive_rate", "False positive rate", "#c0392b"),
)


def embed(spec: dict[str, Any]) -> Markup:
    """JSON that is safe inside a <script type="application/json"> element (no "</script>" can close it)."""
    text = orjson.dumps(spec).decode()
    # Safe: every character that could end the element or start markup is escaped as JSON allows.
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))  # noqa: S704


def fairness_bars(body: dict[str, Any]) -> dict[str, Any]:
    """Per-group bars of the main rates, and the four-fifths line (0.8 x the highest selection rate)."""
    groups = [g for g in body["by_group"] if not g["too_small"]]
    labels = [g["label"] for g in groups]
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": title,
            "x": labels,
            "y": [g.get(metric) for g in groups],
            "marker": {"color": colour},
            "hovertemplate": f"%{{x}}<br>{title}: %{{y:.3f}}<extra></extra>",
        }
        for metric, title, colour in RATES
    ]
    shapes = []
    selection = [g.get("selection_rate") for g in groups if g.get("selection_rate") is not None]
    if selection:
        line = 0.8 * max(selection)
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": line,
                "y1": line,
                "line": {"dash": "dash", "color": "#2f5fb3", "width": 1.5},
            }
        )
    return {
        "data": data,
        "layout": {
            "barmode": "group",
            "height": 320,
            "margin": {"l": 40, "r": 10, "t": 10, "b": 60},
            "yaxis": {"range": [0, 1], "title": {"text": "rate"}},
            "legend": {"orientation": "h", "y": -0.25},
            "shapes": shapes,
            "font": {"size": 12},
        },
    }
