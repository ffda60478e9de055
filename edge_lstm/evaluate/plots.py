"""PNG plots of a replayed or live stream against its truth (matplotlib, imported only here)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

#: The shortest span drawn on the timeline, as a share of the plotted time (a one-sample incident stays visible).
MIN_SPAN = 0.004
TRUTH, DETECTED, UNRAISED = "tab:green", "tab:red", "tab:gray"


def _times(ts: np.ndarray) -> list[datetime]:
    return [datetime.fromtimestamp(float(t), tz=UTC) for t in ts]


def _inside(ts: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    """Which of ``ts`` fall in any of ``spans``."""
    inside = np.zeros(ts.shape, dtype=bool)
    for a, b in spans:
        inside |= (ts >= a) & (ts <= max(a, b))
    return inside


def _lanes(axis, spans: dict[str, tuple[list[tuple[float, float]], str]], first: float, last: float) -> None:
    """One lane per kind of span on a timeline (never one colour over another), each at least MIN_SPAN wide."""
    floor, lanes = (last - first) * MIN_SPAN, len(spans)
    for lane, (items, colour) in enumerate(spans.values()):
        for a, b in items:
            b = max(a, b)
            grow = max(0.0, floor - (b - a)) / 2
            axis.axvspan(*_times(np.array([a - grow, b + grow])), ymin=(lane + 0.15) / lanes,
                         ymax=(lane + 0.85) / lanes, color=colour, alpha=0.8, linewidth=0)
    axis.set_yticks([(lane + 0.5) / lanes for lane in range(lanes)], list(spans), fontsize=8)
    axis.set_ylim(0, 1)


def plot_stream(path: Path, title: str, ts: np.ndarray, value: np.ndarray, **panels: Any) -> Path:
    """Write :func:`figure` of a stream (``panels``: its keyword arguments) to ``path``."""
    import matplotlib.pyplot as plt

    fig = figure(title, ts, value, **panels)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def figure(title: str, ts: np.ndarray, value: np.ndarray, *, expected: np.ndarray | None = None,
           lower: np.ndarray | None = None, upper: np.ndarray | None = None, score_ts: np.ndarray | None = None,
           score: np.ndarray | None = None, threshold: float | None = None,
           incidents: list[tuple[float, float]] = (), windows: list[tuple[float, float]] = (),
           unit: str = "value (the sensor's units)"):
    """Three panels over time (UTC): the signal with the forecast and its interval; the anomaly score with its
    threshold, marking scores above it that raised no incident (a load change, or a stream still settling); and a
    timeline with the labelled anomalies (the truth) and the detected incidents in lanes of their own."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(12, 6.5), sharex=True, height_ratios=(3, 1.4, 0.6))
    t = _times(ts)
    shown = value[np.isfinite(value)]
    if lower is not None and upper is not None:
        top.fill_between(t, lower, upper, color="tab:blue", alpha=0.18, linewidth=0, label="forecast interval")
    top.plot(t, value, color="black", linewidth=0.7, label="signal")
    if expected is not None:
        top.plot(t, expected, color="tab:blue", linewidth=0.7, alpha=0.8, label="forecast (one step ahead)")
    if shown.size:  # the signal sets the scale: an interval widened by a fault must not flatten it
        low, high = float(shown.min()), float(shown.max())
        pad = (high - low) * 0.15 or abs(high) * 0.1 or 1.0
        top.set_ylim(low - pad, high + pad)
    for i, (a, b) in enumerate(windows):
        top.axvspan(*_times(np.array([a, max(a, b)])), color=TRUTH, alpha=0.12, linewidth=0,
                    label="labelled anomaly" if i == 0 else None)
    top.set_ylabel(unit)
    top.set_title(title, fontsize=10)
    top.legend(loc="upper left", fontsize=7, ncol=4)
    if score is not None:
        score_times = np.asarray(score_ts if score_ts is not None else ts, dtype=float)
        middle.plot(_times(score_times), score, color="tab:purple", linewidth=0.7, label="anomaly score")
        if threshold is not None:
            unraised = (np.asarray(score) > threshold) & ~_inside(score_times, list(incidents))
            if unraised.any():
                middle.scatter(_times(score_times[unraised]), np.asarray(score)[unraised], s=6, color=UNRAISED,
                               zorder=3, label="above the line, no incident (load change or settling)")
    if threshold is not None:
        middle.axhline(threshold, color=DETECTED, linestyle="--", linewidth=0.8, label="threshold")
    middle.set_ylim(-0.02, 1.02)
    middle.set_ylabel("score (0-1)")
    middle.legend(loc="upper left", fontsize=7, ncol=3)
    first, last = (float(ts[0]), float(ts[-1])) if len(ts) else (0.0, 1.0)
    _lanes(bottom, {"labelled": (list(windows), TRUTH), "detected": (list(incidents), DETECTED)}, first, last)
    bottom.set_xlabel("time (UTC)")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
