"""Does the pattern view find more when its window follows the series' period, derived from the probation rows?

The detector's pattern view compares the last ``pattern_length`` values (as means of ``pattern_segment``-sample
segments) with the nearest earlier window of the trailing ``pattern_memory`` samples, and calls a distance news
when it passes every distance of the stream's history. This study replays that view alone, offline, on each file of
a labelled set (values scaled by the probation rows' spread), for the fixed window (64 samples of 8, 1,200 of
memory) and for a window derived from the probation rows by a rule (the lag of the autocorrelation's highest peak,
as 8 segments, the memory the same number of segments), and counts the view's incidents against the windows
(event rule of ``edge_lstm.evaluate.incidents``: 10 quiet samples close an incident).

    python research/pattern_length_study.py ../shared/data/ucr-dev
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from numba import njit

from edge_lstm.evaluate.labelled import discover, read_series
from edge_lstm.evaluate.protocol import nab_probation

SEGMENTS = 8  # segments per window
MEMORY_SEGMENTS = 150  # 1,200 samples of 8


def period(head: np.ndarray, low: int = 16, fallback: int = 64) -> int:
    """The lag of the autocorrelation's highest local peak in [low, len/3] of the probation rows; ``fallback``
    when there is none above 0.3."""
    x = head - head.mean()
    n = x.size
    if n < 3 * low or not np.any(x):
        return fallback
    spec = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spec * np.conj(spec))[:n]
    acf /= acf[0]
    best, lag = 0.3, fallback
    for k in range(low, n // 3):
        if acf[k] > acf[k - 1] and acf[k] >= acf[k + 1] and acf[k] > best:
            best, lag = acf[k], k
    return lag


@njit(cache=True)
def pattern_novelty(x, seg, memory_segments, gate):
    """The pattern view's novelty ratio per sample (0 while it has none): distance to the nearest earlier
    non-overlapping window of segment means, over the largest distance so far, damped below ``gate`` x the mean."""
    n = x.size
    means = np.zeros(n // seg + 1)
    for k in range(n // seg):
        means[k] = x[k * seg:(k + 1) * seg].mean()
    out = np.zeros(n)
    d = SEGMENTS
    length = d * seg
    history, total, count = 0.0, 0.0, 0
    learned = (memory_segments // 2) * seg
    for t in range(length, n + 1):  # the window ends before sample t (x[t - length:t])
        start = t - length
        q = np.empty(d)
        for k in range(d):
            q[k] = x[start + k * seg:start + (k + 1) * seg].mean()
        last = start // seg - d  # the latest first segment of a window ending before the query starts
        first = max(0, t // seg - memory_segments)
        if last < first:
            continue
        best = np.inf
        for p in range(first, last + 1):
            acc = 0.0
            for k in range(d):
                diff = q[k] - means[p + k]
                acc += diff * diff
            best = min(best, acc)
        dist = np.sqrt(best / d)
        count += 1
        total += dist
        if t >= learned and history > 0:
            g = min(1.0, dist / max(gate * total / count, 1e-9))
            out[t - 1] = dist / history * g
        if t >= learned:
            history = max(history, min(dist, 2 * history) if out[t - 1] > 1 and history > 0 else dist)
    return out


def incidents(flag: np.ndarray, quiet: int = 10) -> list[tuple[int, int]]:
    spans, start, calm = [], -1, 0
    for i, f in enumerate(flag):
        if f:
            if start < 0:
                start = i
            calm = 0
        elif start >= 0:
            calm += 1
            if calm >= quiet:
                spans.append((start, i - calm))
                start = -1
    if start >= 0:
        spans.append((start, len(flag) - 1))
    return spans


def variants(lag: int) -> list[tuple[str, int, int]]:
    """(name, segment, memory in segments) of each window compared."""
    seg = max(2, round(lag / SEGMENTS))
    seg2 = max(2, round(2 * lag / SEGMENTS))
    return [("fixed", 8, MEMORY_SEGMENTS), ("period", seg, MEMORY_SEGMENTS),
            ("period, 1,200 of memory at least", seg, max(2 * SEGMENTS + 2, 1200 // seg, MEMORY_SEGMENTS)),
            ("period, memory 1,200 samples", seg, max(2 * SEGMENTS + 2, 1200 // seg)),
            ("two periods", seg2, MEMORY_SEGMENTS), ("half period", max(2, seg // 2), MEMORY_SEGMENTS)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    args = ap.parse_args()
    probation_file = args.data / "probation.json"
    probation = json.loads(probation_file.read_text()) if probation_file.exists() else {}
    totals = {key: [0, 0, 0] for key, _, _ in variants(64)}
    lags = []
    for path, name, windows in discover(args.data, args.data / "combined_windows.json"):
        s = read_series(path, name, windows)
        n = len(s.ts)
        head_n = int(probation.get(name, nab_probation(n)))
        values = s.values[:, 0]
        head = values[:head_n]
        spread = head.std() or 1.0
        x = ((values - head.mean()) / spread).astype(np.float64)
        lag = period(head)
        lags.append(lag)
        truth = [(int(np.searchsorted(s.ts, a)), int(np.searchsorted(s.ts, b, side="right")) - 1)
                 for a, b in s.windows]
        for key, seg, mem in variants(lag):
            v = pattern_novelty(x, seg, mem, 3.0)
            v[:head_n] = 0
            spans = incidents(v > 1.0)
            hit = [any(a <= e and s0 <= b for s0, e in spans) for a, b in truth]
            fp = sum(not any(a <= e and s0 <= b for a, b in truth) for s0, e in spans)
            t = totals[key]
            t[0] += sum(hit)
            t[1] += len(hit) - sum(hit)
            t[2] += fp
    print(f"periods: median {np.median(lags):.0f}, quartiles {np.percentile(lags, 25):.0f}-"
          f"{np.percentile(lags, 75):.0f}, fallback {sum(lag == 64 for lag in lags)} of {len(lags)}")
    for key, (tp, fn, fp) in totals.items():
        p = tp / max(1, tp + fp)
        r = tp / max(1, tp + fn)
        print(f"{key:34s} TP {tp:3d} FN {fn:3d} FP {fp:4d}  P {p:.2f} R {r:.2f} F1 {2 * p * r / max(1e-9, p + r):.2f}")


if __name__ == "__main__":
    main()
