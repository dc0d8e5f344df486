"""The dashboard's accuracy chart: one point per measured session, gaps left as gaps.

The chart plots the end-of-day hit rate over every directional call ("k of n", `hits` of
`calls`) per session, on a dated x-axis with n written beside each point. A session with no
report, or with no call judged, is a gap: the line is split there (one polyline per run of
measured sessions), so nothing is drawn across a session that was not measured. Coordinates are
computed here, so the page needs no JavaScript.
"""

from __future__ import annotations

from typing import Any

WIDTH, HEIGHT, PAD_X, PAD_TOP, PAD_BOTTOM = 640, 190, 34, 16, 34
LABELS = 6  # dates written under the axis, at most


def chart(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The SVG geometry of the trend: per-point coordinates, line segments and date labels."""
    step = (WIDTH - 2 * PAD_X) / max(len(points) - 1, 1)
    plot = HEIGHT - PAD_TOP - PAD_BOTTOM
    coords: list[dict[str, Any]] = []
    segments: list[list[str]] = []
    run: list[str] = []
    for i, point in enumerate(points):
        calls, hits = point.get("calls"), point.get("hits")
        x = round(PAD_X + i * step, 1)
        if not isinstance(calls, int) or not isinstance(hits, int) or calls <= 0:
            if run:
                segments.append(run)
            run = []
            continue
        rate = hits / calls
        y = round(PAD_TOP + (1 - rate) * plot, 1)
        coords.append({"x": x, "y": y, "rate": rate, "hits": hits, "calls": calls, **point})
        run.append(f"{x},{y}")
    if run:
        segments.append(run)
    every = max(1, -(-len(points) // LABELS))
    labels = [
        {"x": round(PAD_X + i * step, 1), "text": p["date"][5:]}
        for i, p in enumerate(points)
        if i % every == 0 or i == len(points) - 1
    ]
    return {
        "points": points,
        "coords": coords,
        "segments": [" ".join(s) for s in segments],
        "labels": labels,
        "width": WIDTH,
        "height": HEIGHT,
        "top": PAD_TOP,
        "bottom": HEIGHT - PAD_BOTTOM,
        "left": PAD_X,
        "right": WIDTH - PAD_X,
        "rated": len(coords),
        "gaps": len(points) - len(coords),
    }
