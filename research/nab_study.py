"""NAB study: which views of a series, scored as novelty, find the labelled windows.

The engine's one-step forecasts are computed once per file (cached: ``research/nab_forecasts.py`` replays
each file as ``edge-lstm evaluate`` does); each idea turns (value, forecast) into per-sample scores
offline, and NAB's scorer (corpus-optimised threshold) rates them; the product's detector so read
scores exactly what ``evaluate`` does.
With ``--diagnose IDEA``: per file, the windows found and the false detections at the threshold.
Several bundles (comma-separated; e.g. the same training with other ``--seed``s): each idea is scored on
each model's forecasts, and the mean is printed with the per-model scores (a seed alone moves the
score by about 2 points).

    python research/nab_study.py BUNDLE[,BUNDLE...] ../shared/data/nab-dev [--backend numba-int8]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge_lstm.evaluate import nab
from edge_lstm.evaluate.protocol import nab_probation
from research.detector_study import ewm_z
from research.nab_forecasts import forecasts

SETTLE = 100  # samples unscored: the engine's settle (50) and the detector's warm-up (50)


@njit(cache=True)
def trailing_novelty(size, window, cap, start):
    """size[t] over the max of size over the trailing ``window`` (blocks of window/8), learning capped."""
    n = size.size
    out = np.zeros(n)
    nb = 8
    block = max(1, window // nb)
    blocks = np.zeros(nb + 1)
    fill = 0
    for t in range(n):
        hist = blocks.max()
        v = size[t] / max(hist, 1e-6) if t >= start else 0.0
        out[t] = v
        s = size[t]
        if v > 1.0 and hist > 0:
            s = min(s, cap * hist)
        blocks[nb] = max(blocks[nb], s)
        fill += 1
        if fill >= block:
            blocks[:nb - 1] = blocks[1:nb]
            blocks[nb - 1] = blocks[nb]
            blocks[nb] = 0.0
            fill = 0
    return out


@njit(cache=True)
def range_excursion(x, window, start):
    """How far x[t] leaves the trailing [min, max] of ``window`` samples, in units of that range."""
    n = x.size
    out = np.zeros(n)
    nb = 8
    block = max(1, window // nb)
    hi = np.full(nb + 1, -np.inf)
    lo = np.full(nb + 1, np.inf)
    fill = 0
    for t in range(n):
        h, low = hi.max(), lo.min()
        if t >= start and h > low:
            out[t] = max(x[t] - h, low - x[t], 0.0) / (h - low)
        hi[nb] = max(hi[nb], x[t])
        lo[nb] = min(lo[nb], x[t])
        fill += 1
        if fill >= block:
            hi[:nb - 1] = hi[1:nb]
            lo[:nb - 1] = lo[1:nb]
            hi[nb - 1], lo[nb - 1] = hi[nb], lo[nb]
            hi[nb], lo[nb] = -np.inf, np.inf
            fill = 0
    return out


@njit(cache=True)
def rolling_mean(r, k):
    n = r.size
    out = np.zeros(n)
    acc = 0.0
    for t in range(n):
        acc += r[t]
        if t >= k:
            acc -= r[t - k]
        out[t] = acc / min(t + 1, k)
    return out


@njit(cache=True)
def squared_distance(a, b, bound):
    """Sum of squared differences of ``a`` and ``b``, abandoned once it reaches ``bound``."""
    acc = 0.0
    for k in range(a.size):
        diff = a[k] - b[k]
        acc += diff * diff
        if acc >= bound:
            break
    return acc


@njit(cache=True)
def nn_distance(x, w, seg, memory, start):
    """Left nearest-neighbour distance of the last ``w`` samples (averaged into segments of ``seg``)
    to every earlier such window that does not overlap it, within the trailing ``memory`` samples."""
    n = x.size
    d = w // seg
    out = np.zeros(n)
    vec = np.zeros((n, d))
    for t in range(w - 1, n):
        for k in range(d):
            acc = 0.0
            for j in range(seg):
                acc += x[t - w + 1 + k * seg + j]
            vec[t, k] = acc / seg
        if t < start:
            continue
        best = np.inf
        for u in range(max(w - 1, t - memory), t - w + 1):
            best = min(best, squared_distance(vec[t], vec[u], best))
        out[t] = math.sqrt(best / d) if best < np.inf else 0.0
    return out


@njit(cache=True)
def nn_distance_strided(x, w, seg, memory, start):
    """As nn_distance, but the earlier windows are only those aligned to segment boundaries (a ring of
    segment means: memory / seg floats a stream); the query is the last w samples at every t."""
    n = x.size
    d = w // seg
    out = np.zeros(n)
    nseg = n // seg
    means = np.zeros(nseg + 1)
    q = np.zeros(d)
    for t in range(n):
        if (t + 1) % seg == 0:
            means[(t + 1) // seg - 1] = x[t + 1 - seg:t + 1].mean()
        if t < start or t < w - 1:
            continue
        for k in range(d):
            q[k] = x[t - w + 1 + k * seg:t - w + 1 + (k + 1) * seg].mean()
        best = np.inf
        # candidate windows: segments [s, s + d) ending at or before t - w (no overlap with the query)
        done = (t + 1) // seg  # complete segments
        last = (t + 1 - w) // seg - d  # the latest start whose window ends before the query starts
        first = max(0, done - memory // seg)
        for s0 in range(first, last + 1):
            best = min(best, squared_distance(q, means[s0:s0 + d], best))
        out[t] = math.sqrt(best / d) if best < np.inf else 0.0
    return out


@njit(cache=True)
def ewm_mean(d, alpha, start):
    """The mean of d before each sample: Welford's average until ``1/alpha`` samples, then an EWMA."""
    out = np.zeros(d.size)
    m, k = 0.0, 0
    for t in range(start, d.size):
        out[t] = m
        k += 1
        m += (d[t] - m) * max(alpha, 1.0 / k)
    return out


def squash(v: np.ndarray) -> np.ndarray:
    v = np.maximum(v, 0.0)
    return v / (1.0 + v)


def residual(x, e):
    """x - e, 0 where the engine made no forecast (its settle; e is NaN there)."""
    return np.where(np.isfinite(e), x - np.nan_to_num(e), 0.0)


def novelty(x, e, window=1200, gate=4.0, cap=2.0):
    r = residual(x, e)
    z = ewm_z(r, 0.01, 50, 5.0)
    v = trailing_novelty(np.abs(r), window, cap, SETTLE) * np.minimum(1.0, z / gate)
    return v


def score(files: dict, make, profile: str = "standard") -> dict:
    scored = {name: (ts, squash(make(x, e, ts)), windows) for name, (ts, windows, x, e) in files.items()}
    return nab.corpus_score(scored, profile), scored


def diagnose(files: dict, make) -> None:
    result, scored = score(files, make)
    thr = result["threshold"]
    print(f"score {result['score']:.2f} threshold {thr:.4f}")
    for name, (ts, s, windows) in scored.items():
        n = len(s)
        idx = nab.to_indices(ts, windows)
        start = nab_probation(n)
        hit = s >= thr
        hit[:start] = False
        inside = np.zeros(n, bool)
        found = []
        for a, b in idx:
            inside[a:b + 1] = True
            first = np.flatnonzero(hit[a:b + 1])
            found.append(f"{(first[0] / (b - a + 1)):.2f}" if first.size else "MISS")
        fp = int((hit & ~inside).sum())
        print(f"  {name:60s} windows {' '.join(found) or '-':24s} false {fp}")


def detector_scores(x: np.ndarray, e: np.ndarray, onsets: bool = False, ts: np.ndarray | None = None,
                    **settings) -> np.ndarray:
    """The product's detector (edge_lstm.detect.detector) over one series, as v = s / (1 - s), from the first forecast
    (``e`` is NaN before it: the engine's settle; the detector's warm-up is its own). ``onsets``: inside an open
    incident, v is capped just below the line, as ``edge-lstm evaluate`` writes NAB's files (one detection per
    incident).
    ``ts``: the samples' times (the silence view needs them); else their indices."""
    from edge_lstm.detect.config import DetectorConfig
    from edge_lstm.detect.detector import Detector

    d = Detector(DetectorConfig(**settings), capacity=1)
    known = np.flatnonzero(np.isfinite(e))  # the engine's forecasts begin after its settle (NaN before)
    start = int(known[0]) if known.size else x.size
    n = x.size - start
    times = np.arange(n, dtype=np.float64) if ts is None else np.asarray(ts, np.float64)[start:]
    out = d.update(np.zeros(n, np.int64), x[start:], e[start:], times)
    v = np.zeros(x.size)
    v[start:] = out.score / (1.0 - out.score)
    if onsets:
        inside = out.anomalous & ~out.opened
        v[start:][inside] = np.minimum(v[start:][inside], 0.999)
    return v


@njit(cache=True)
def nearest_seasonal(x, e, ts, days, k):
    """Per sample, whichever is nearest ``x[t]``: the forecast ``e[t]`` or a value within ``k`` samples of the
    sample one, two, ... ``days`` days (by time stamp, within 10 minutes) before it."""
    n = x.size
    out = e.copy()
    for t in range(n):
        best = abs(x[t] - e[t])
        for d in range(1, days + 1):
            target = ts[t] - d * 86400.0
            c = np.searchsorted(ts, target)
            if c >= n or c - k < 0 or abs(ts[c] - target) > 600.0:
                continue
            for j in range(c - k, min(c + k + 1, t)):
                if abs(x[t] - x[j]) < best:
                    best = abs(x[t] - x[j])
                    out[t] = x[j]
    return out


#: The NAB profile (the Makefile's NAB_DETECTOR) and the session-6 one without the seasonal memory.
PROFILE = {"z_gate": 4.0, "level_margin": 0.05, "pattern_gate": 2.0, "novelty_window": 1600, "seasonal_days": 3,
           "silence_gate": 0.0}
PROFILE_6 = {"z_gate": 4.0, "level_margin": 0.05, "pattern_gate": 2.0, "novelty_window": 1600}


def ideas() -> dict:
    out = {
        "profile": lambda x, e, ts: detector_scores(x, e, True, ts, **PROFILE),
        "profile (session 6)": lambda x, e, ts: detector_scores(x, e, True, ts, **PROFILE_6),
    }
    for days, k in ((3, 4), (3, 8), (3, 12), (3, 16), (2, 12), (4, 12), (7, 4)):
        out[f"profile (session 6), nearest of forecast and values +-{k} samples {days} days back"] = (
            lambda x, e, ts, days=days, k=k: detector_scores(
                x, nearest_seasonal(x, e, np.asarray(ts, np.float64), days, k), True, ts, **PROFILE_6))
    for width in (2400.0, 5400.0):
        out[f"profile, seasonal width {width:g} s"] = (
            lambda x, e, ts, w=width: detector_scores(x, e, True, ts, **PROFILE | {"seasonal_width_s": w}))
    out |= {
        "detector": lambda x, e, ts: detector_scores(x, e, True, ts, z_gate=4.0),
        "detector z_gate 8": lambda x, e, ts: detector_scores(x, e, True, ts),
    }
    grid = {"pattern_memory": (600, 2400, 4000), "pattern_gate": (2.0, 4.0), "level_margin": (0.05, 0.2),
            "novelty_window": (600, 2400), "pattern_length": (32, 128), "level_window": (1200, 4800)}
    for key, choices in grid.items():
        for choice in choices:
            out[f"detector {key}={choice}"] = (
                lambda x, e, ts, k=key, c=choice: detector_scores(x, e, True, ts, z_gate=4.0, **{k: c}))
    for quiet in (5, 10, 20, 50):
        for gate in (4.0, 8.0):
            out[f"detector onsets quiet {quiet} z_gate {gate}"] = (
                lambda x, e, ts, q=quiet, g=gate: detector_scores(x, e, True, ts, quiet=q, z_gate=g))
    out |= {
        "novelty (default)": lambda x, e, ts: novelty(x, e),
        "range excursion 1200 /0.2": lambda x, e, ts: range_excursion(x, 1200, SETTLE) / 0.2,
    }
    for w in (600, 1200, 2400):
        for m in (0.1, 0.2, 0.4):
            out[f"max(novelty, range {w}/{m})"] = (
                lambda x, e, ts, w=w, m=m: np.maximum(novelty(x, e), range_excursion(x, w, SETTLE) / m))
    for k in (3, 6, 12, 24):
        out[f"novelty of mean|r| over {k}"] = (
            lambda x, e, ts, k=k: trailing_novelty(rolling_mean(np.abs(residual(x, e)), k), 1200, 2.0, SETTLE))
        out[f"novelty of |mean r| over {k}"] = (
            lambda x, e, ts, k=k: trailing_novelty(np.abs(rolling_mean(residual(x, e), k)), 1200, 2.0, SETTLE))
    for w, seg in ((8, 1), (16, 2), (32, 4), (64, 8), (288, 24)):
        for mem in (1200, 4000):
            out[f"nn {w}/{seg} mem {mem}"] = (
                lambda x, e, ts, w=w, seg=seg, mem=mem: trailing_novelty(nn_distance(x, w, seg, mem, SETTLE), 1200, 2.0,
                                                                     SETTLE))
            out[f"max(novelty, nn {w}/{seg} mem {mem})"] = (
                lambda x, e, ts, w=w, seg=seg, mem=mem: np.maximum(novelty(x, e), trailing_novelty(
                    nn_distance(x, w, seg, mem, SETTLE), 1200, 2.0, SETTLE)))
    def combo(x, e, w=64, seg=8, mem=4000, rw=2400, rm=0.1):
        return np.maximum.reduce([novelty(x, e), trailing_novelty(nn_distance(x, w, seg, mem, SETTLE), 1200, 2.0,
                                                                  SETTLE), range_excursion(x, rw, SETTLE) / rm])
    out["combo"] = lambda x, e, ts: combo(x, e)

    def combo_strided(x, e, w=64, seg=8, mem=4000, rw=2400, rm=0.1):
        return np.maximum.reduce([novelty(x, e), trailing_novelty(nn_distance_strided(x, w, seg, mem, SETTLE), 1200,
                                                                  2.0, SETTLE), range_excursion(x, rw, SETTLE) / rm])
    for w, seg in ((32, 4), (64, 8), (128, 16), (64, 4), (128, 8)):
        for mem in (1200, 2400, 4000):
            out[f"combo strided nn {w}/{seg} mem {mem}"] = (
                lambda x, e, ts, w=w, seg=seg, mem=mem: combo_strided(x, e, w, seg, mem))
    for w, seg in ((32, 4), (64, 8), (96, 8), (128, 16)):
        for rm in (0.05, 0.1, 0.2):
            out[f"combo nn {w}/{seg} range /{rm}"] = lambda x, e, ts, w=w, seg=seg, rm=rm: combo(x, e, w, seg, rm=rm)
    def views(x, e, pw=1.0, nw=1200, rw=2400, rm=0.1, lw=1.0, gate=4.0, mem=1200):
        return np.maximum.reduce([lw * novelty(x, e, gate=gate),
                                  pw * trailing_novelty(nn_distance_strided(x, 64, 8, mem, SETTLE), nw, 2.0, SETTLE),
                                  range_excursion(x, rw, SETTLE) / rm])
    for pw in (0.8, 0.9, 1.1, 1.25):
        out[f"views pattern x{pw}"] = lambda x, e, ts, pw=pw: views(x, e, pw=pw)
    for nw in (600, 2400):
        out[f"views pattern novelty window {nw}"] = lambda x, e, ts, nw=nw: views(x, e, nw=nw)
    for lw in (0.8, 1.25):
        out[f"views lstm x{lw}"] = lambda x, e, ts, lw=lw: views(x, e, lw=lw)
    for gate in (2.0, 6.0, 8.0):
        out[f"views gate {gate}"] = lambda x, e, ts, gate=gate: views(x, e, gate=gate)
    out["views no range"] = lambda x, e, ts: views(x, e, rm=1e9)
    def gated(x, e, pg=3.0, rm=0.1, gate=4.0, alpha=0.01):
        d = nn_distance_strided(x, 64, 8, 1200, SETTLE)
        mean = ewm_mean(d, alpha, SETTLE)
        g = np.minimum(1.0, d / np.maximum(pg * mean, 1e-9))
        return np.maximum.reduce([novelty(x, e, gate=gate), trailing_novelty(d, 1200, 2.0, SETTLE) * g,
                                  range_excursion(x, 2400, SETTLE) / rm])
    for pg in (0.0, 2.0, 3.0, 4.0, 6.0):
        for gate in (4.0, 8.0):
            out[f"gated pattern gate {pg} lstm gate {gate}"] = (
                lambda x, e, ts, pg=pg, gate=gate: gated(x, e, pg, gate=gate))
    out["gated pattern gate 3 level 0.2"] = lambda x, e, ts: gated(x, e, 3.0, rm=0.2)
    out["gated pattern gate 3 level 0.2 gate 8"] = lambda x, e, ts: gated(x, e, 3.0, rm=0.2, gate=8.0)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", help="a bundle, or several, comma-separated")
    ap.add_argument("data")
    ap.add_argument("--backend", default="numba-int8")
    ap.add_argument("--diagnose", help="the idea (a key of ideas()) to break down per file")
    ap.add_argument("--only", help="run the ideas whose name contains this")
    args = ap.parse_args(argv)
    models = [forecasts(b, Path(args.data), args.backend, Path(b) / "nab_forecasts.npz")
              for b in args.bundle.split(",")]
    table = ideas()
    if args.diagnose:
        diagnose(models[0], table[args.diagnose])
        return 0
    for label, make in table.items():
        if args.only and args.only not in label:
            continue
        scores = [score(files, make)[0]["score"] for files in models]
        each = f"  [{' '.join(f'{s:.1f}' for s in scores)}]" if len(scores) > 1 else ""
        print(f"{np.mean(scores):7.2f}  {label}{each}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
