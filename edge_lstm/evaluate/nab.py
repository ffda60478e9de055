"""Numenta Anomaly Benchmark scoring, as the NAB whitepaper defines it. Pure; no I/O.

Per data file, every point after the probationary period (the first 15%, at most 750 points)
gets a weight should it be reported as a detection:

- inside a labelled window, ``A_TP * sigma(y) / sigma(-1)`` with ``y = -(right - i + 1) / width``
  (-1 at the window's first point, near 0 at its last): earlier is better;
- outside any window, ``A_FP * sigma(y)`` with ``y = |i - right_prev| / (width_prev - 1)``, the
  distance past the previous window (``sigma = -1`` when there is none): a detection just after a
  window costs little, one far from any window costs ``A_FP``;

where ``sigma(y) = 2 / (1 + exp(5 y)) - 1``. At a threshold, the detections are the points whose
anomaly score reaches it; a window scores its best (earliest) detection, or ``-A_FN`` if it has
none; false positives add up. The raw score of a detector is the sum over files at the threshold
that maximises it over the whole corpus; it is normalised so that the null detector (nothing
detected) scores 0 and the perfect one (each window's first point) 100.

>>> ts = np.arange(100)
>>> windows = [(60, 69)]
>>> perfect = np.zeros(100); perfect[60] = 1.0
>>> round(corpus_score({"f": (ts, perfect, windows)}, "standard")["score"], 6)
100.0
>>> round(corpus_score({"f": (ts, np.zeros(100), windows)}, "standard")["score"], 6)
0.0
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edge_lstm.evaluate.protocol import nab_probation

PROFILES = {
    "standard": {"tp": 1.0, "fp": 0.11, "fn": 1.0},
    "reward_low_FP_rate": {"tp": 1.0, "fp": 0.22, "fn": 1.0},
    "reward_low_FN_rate": {"tp": 1.0, "fp": 0.11, "fn": 2.0},
}


def scaled_sigmoid(y: float) -> float:
    """``2 / (1 + e^(5y)) - 1``, and -1 from y = 3 on.

    >>> round(scaled_sigmoid(-1.0), 5), scaled_sigmoid(0.0), round(scaled_sigmoid(1.0), 5)
    (0.98661, 0.0, -0.98661)
    """
    return -1.0 if y >= 3.0 else 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def point_weights(n: int, windows: list[tuple[int, int]], profile: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per point: the weight a detection there would earn, and its window number (-1: none).

    ``windows`` are inclusive (first, last) point indices, sorted and disjoint.
    """
    weight = np.empty(n)
    window_of = np.full(n, -1, np.int64)
    max_tp = scaled_sigmoid(-1.0)
    for k, (left, right) in enumerate(windows):
        width = right - left + 1
        for i in range(left, right + 1):
            weight[i] = profile["tp"] * scaled_sigmoid(-(right - i + 1) / width) / max_tp
        window_of[left : right + 1] = k
    # Between windows: the distance past the previous window, in units of its width less one.
    previous: list[tuple[int, int] | None] = [None, *windows]
    next_left = [left for left, _ in windows] + [n]
    for before, stop in zip(previous, next_left, strict=True):
        start = 0 if before is None else before[1] + 1
        for i in range(start, stop):
            if before is None:
                weight[i] = -profile["fp"]
            else:
                right, width = before[1], before[1] - before[0] + 1
                weight[i] = profile["fp"] * scaled_sigmoid((i - right) / float(max(width - 1, 1)))
    return weight, window_of


def file_score_curve(scores: np.ndarray, windows: list[tuple[int, int]], profile: dict[str, float],
                     start: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(thresholds, raw score) pairs for one file: the score when detecting every point >= threshold, from point
    ``start`` on (default: after NAB's probationary period)."""
    n = len(scores)
    weight, window_of = point_weights(n, windows, profile)
    keep = np.arange(n) >= (nab_probation(n) if start is None else start)
    scorable_windows = {w for w in window_of[keep] if w >= 0}
    order = np.argsort(-scores[keep], kind="stable")
    s, w, win = scores[keep][order], weight[keep][order], window_of[keep][order]
    best = {k: -profile["fn"] for k in scorable_windows}
    fp = 0.0
    thresholds, values = [math.inf], [sum(best.values())]
    for i in range(len(s)):
        if win[i] >= 0:
            best[win[i]] = max(best[win[i]], w[i])
        else:
            fp += w[i]
        if i + 1 == len(s) or s[i + 1] != s[i]:
            thresholds.append(float(s[i]))
            values.append(sum(best.values()) + fp)
    return np.asarray(thresholds), np.asarray(values)


def _scores_at(curve: tuple[np.ndarray, np.ndarray], thresholds: np.ndarray) -> np.ndarray:
    """The file's score at each threshold: detecting the points whose score reaches it."""
    steps, values = curve  # steps descending, from +inf
    k = np.searchsorted(-steps, -thresholds, side="right") - 1
    return values[np.maximum(k, 0)]


def to_indices(timestamps: np.ndarray, windows: list[tuple[Any, Any]]) -> list[tuple[int, int]]:
    """Labelled windows given as (start, end) timestamps -> inclusive index ranges of the points inside."""
    out = []
    for start, end in windows:
        inside = np.flatnonzero((timestamps >= start) & (timestamps <= end))
        if inside.size:
            out.append((int(inside[0]), int(inside[-1])))
    return out


def corpus_score(files: dict[str, tuple[np.ndarray, np.ndarray, list[tuple[Any, Any]]]], profile: str,
                 threshold: float | None = None, starts: dict[str, int] | None = None) -> dict[str, Any]:
    """Normalised NAB score of a detector over ``files``: name -> (timestamps, anomaly scores, windows).

    Each file is scored from its point ``starts[name]`` on (default: after NAB's probationary period).
    The threshold is optimised over the corpus unless given. Returns the score, the threshold,
    the raw score and the null/perfect raw scores.
    """
    weights = PROFILES[profile]
    curves, n_windows = {}, 0
    for name, (ts, scores, windows) in files.items():
        idx = to_indices(np.asarray(ts), windows)
        start = (starts or {}).get(name, nab_probation(len(scores)))
        n_windows += sum(1 for w in idx if w[1] >= start)
        curves[name] = file_score_curve(np.asarray(scores, dtype=float), idx, weights, start)
    candidates = np.unique(np.concatenate([c[0] for c in curves.values()]))[::-1]
    if threshold is not None:
        candidates = np.array([threshold], dtype=float)
    totals = sum(_scores_at(c, candidates) for c in curves.values())
    best = int(np.argmax(totals))  # the first (highest) threshold among equals
    threshold, raw = float(candidates[best]), float(totals[best])
    null, perfect = -weights["fn"] * n_windows, weights["tp"] * n_windows
    score = 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0
    return {"score": score, "threshold": threshold, "raw": raw, "null": null, "perfect": perfect,
            "windows": n_windows}
