"""Which representation makes a UCR dev series' labelled anomaly its top left-nearest-neighbour discord?

For each file (scaled by its probation rows), the distance from every window to its nearest earlier non-overlapping
window, for several representations: segment means (the pattern view's short stage) or every value, a memory of the
last N samples or the whole history, Euclidean or z-normalised, a fixed length or the period of the probation rows.
Prints per file how far the labelled window's largest distance stands above the largest elsewhere after the
probation rows (* where it is the top one) and, per representation, the share of files whose top discord lies in
the window (top-1 accuracy). An oracle (no threshold): it says what a view can see, not what the detector's bar lets
through. About 12 minutes on one core.

    python research/pattern_resolution_study.py
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime

import numpy as np
from numba import njit

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "ucr-dev")
# (distance, window length or "P" for the probation rows' period, memory or 0 for all history, segment)
CONFIGS = [("e", 64, 1200, 8), ("e", 64, 1200, 1), ("e", 64, 0, 1), ("e", 64, 0, 8), ("z", "P", 0, 1),
           ("e", "P", 0, 1)]


@njit(cache=True)
def left_neighbour(x, length, memory, znorm, exclusion):
    """d[t]: distance from the window ending at t to its nearest one ending in [t - memory, t - exclusion]."""
    n = x.size
    d = np.full(n, np.nan)
    cs = np.zeros(n + 1)
    cs2 = np.zeros(n + 1)
    for i in range(n):
        cs[i + 1] = cs[i] + x[i]
        cs2[i + 1] = cs2[i] + x[i] * x[i]
    qt = np.zeros(n)  # qt[s]: dot product of the windows ending at t and at s
    for t in range(length - 1, n):
        lo, hi = max(length - 1, t - memory), t - exclusion
        fresh = t == length - 1 or t % 4096 == 0  # summed anew now and then: no drift
        for s in range(t, max(length - 1, t - memory - 1) - 1, -1):  # downwards: qt[s - 1] is still t - 1's
            if fresh or s - 1 < length - 1:
                acc = 0.0
                for k in range(length):
                    acc += x[t - k] * x[s - k]
                qt[s] = acc
            else:
                qt[s] = qt[s - 1] + x[t] * x[s] - x[t - length] * x[s - length]
        if hi < lo:
            continue
        mt = (cs[t + 1] - cs[t + 1 - length]) / length
        vt = (cs2[t + 1] - cs2[t + 1 - length]) / length - mt * mt
        et = cs2[t + 1] - cs2[t + 1 - length]
        best = np.inf
        for s in range(lo, hi + 1):
            es = cs2[s + 1] - cs2[s + 1 - length]
            if znorm:
                ms = (cs[s + 1] - cs[s + 1 - length]) / length
                vs = (cs2[s + 1] - cs2[s + 1 - length]) / length - ms * ms
                corr = (qt[s] - length * mt * ms) / (length * math.sqrt(max(vt, 1e-12) * max(vs, 1e-12)))
                dd = 2 * length * (1 - corr)
            else:
                dd = et + es - 2 * qt[s]
            best = min(best, dd)
        d[t] = math.sqrt(max(best, 0.0) / length)
    return d


def period(x: np.ndarray) -> int:
    """The first autocorrelation peak after its first zero crossing (64 when there is none)."""
    x = x - x.mean()
    n = min(x.size, 20000)
    f = np.fft.rfft(x[:n], 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[:n]
    ac /= ac[0]
    zero = int(np.argmax(ac < 0))
    return 64 if zero == 0 else zero + int(np.argmax(ac[zero:min(n, 2000)]))


def files():
    with open(f"{DATA}/combined_windows.json") as f:
        windows = json.load(f)
    with open(f"{DATA}/probation.json") as f:
        probation = json.load(f)
    start = datetime(2000, 1, 1)

    def row(stamp: str) -> int:
        return int((datetime.fromisoformat(stamp) - start).total_seconds() // 60)

    for name, spans in sorted(windows.items()):
        x = np.loadtxt(f"{DATA}/{name}", delimiter=",", skiprows=1, usecols=1)
        yield os.path.basename(name)[:30], x, probation[name], row(spans[0][0]), row(spans[0][1])


def profile(x: np.ndarray, kind: str, length: int, memory: int, segment: int) -> np.ndarray:
    if segment == 1:
        return left_neighbour(x, length, memory or x.size, kind == "z", length)
    means = x[: x.size // segment * segment].reshape(-1, segment).mean(axis=1)
    short = left_neighbour(means, length // segment, memory // segment if memory else means.size, kind == "z",
                           length // segment)
    d = np.repeat(short, segment)
    return np.concatenate([d, np.full(x.size - d.size, np.nan)])


def main() -> None:
    hits = {c: [] for c in CONFIGS}
    for name, x, learned, first, last in files():
        x = (x - x[:learned].mean()) / (x[:learned].std() or 1.0)
        p = period(x[:learned])
        line = [f"{name:30s} P={p:4d}"]
        for config in CONFIGS:
            kind, length, memory, segment = config
            length = max(8, min(p, 512)) if length == "P" else length
            d = profile(x, kind, length, memory, segment)
            d[:learned] = np.nan
            top = int(np.nanargmax(d))
            inside = np.nanmax(d[first:last + 1 + length])
            outside = np.nanmax(np.concatenate([d[:first], d[last + 1 + length:]]))
            hits[config].append(first <= top < last + 1 + length)
            line.append(f"{'*' if hits[config][-1] else ' '}{inside / outside:5.2f}")
        print(" ".join(line), flush=True)
    for config in CONFIGS:
        print(config, f"top-1 {np.mean(hits[config]):.3f}")


if __name__ == "__main__":
    main()
