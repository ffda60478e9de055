"""PNG plots of a replayed or live stream against its truth (matplotlib, imported only here)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np


def _times(ts: np.ndarray) -> list[datetime]:
    return [datetime.fromtimestamp(float(t), tz=UTC) for t in ts]


def plot_stream(path: Path, title: str, ts: np.ndarray, value: np.ndarray, *, expected: np.ndarray | None = None,
                lower: np.ndarray | None = None, upper: np.ndarray | None = None, score_ts: np.ndarray | None = None,
                score: np.ndarray | None = None, threshold: float | None = None,
                incidents: list[tuple[float, float]] = (), windows: list[tuple[float, float]] = ()) -> Path:
    """Two panels: the signal with its forecast band, and the anomaly score with its threshold;
    detected incidents in red and labelled windows (the truth) in green on both."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 5.5), sharex=True, height_ratios=(3, 1.4))
    t = _times(ts)
    if lower is not None and upper is not None:
        top.fill_between(t, lower, upper, color="tab:blue", alpha=0.18, linewidth=0, label="forecast interval")
    top.plot(t, value, color="black", linewidth=0.7, label="signal")
    if expected is not None:
        top.plot(t, expected, color="tab:blue", linewidth=0.7, alpha=0.8, label="forecast")
    if score is not None:
        bottom.plot(_times(score_ts if score_ts is not None else ts), score, color="tab:purple", linewidth=0.7,
                    label="anomaly score")
    if threshold is not None:
        bottom.axhline(threshold, color="tab:red", linestyle="--", linewidth=0.8, label="threshold")
    for axis in (top, bottom):
        for i, (a, b) in enumerate(windows):
            axis.axvspan(*_times(np.array([a, b])), color="tab:green", alpha=0.15,
                         label="labelled anomaly" if i == 0 and axis is top else None)
        for i, (a, b) in enumerate(incidents):
            axis.axvspan(*_times(np.array([a, max(b, a)])), color="tab:red", alpha=0.35,
                         label="detected incident" if i == 0 and axis is top else None)
    top.set_title(title, fontsize=10)
    top.legend(loc="upper left", fontsize=7, ncol=5)
    bottom.set_ylim(-0.02, 1.02)
    bottom.set_ylabel("score")
    bottom.legend(loc="upper left", fontsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
