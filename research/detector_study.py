"""Detector study on labelled series: NAB standard score of scoring ideas over the same forecasts.

The LSTM's one-step forecasts (through the chosen backend, each file standardised by its
probationary period, as `edge-lstm evaluate` does) are computed once; each idea then turns the
residuals into per-sample scores, which NAB's scorer (corpus-optimised threshold) rates.

    python research/detector_study.py BUNDLE ../shared/data/nab-dev [--backend numba-int8]
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
from research.nab_forecasts import forecasts


@njit(cache=True)
def ewm_z(r, alpha, warmup, clip, min_std=1e-6):
    """|r - mean| / std with EWMA mean/var (Welford during warm-up), learning clipped at ``clip``."""
    n = r.size
    z = np.zeros(n)
    mean, var = 0.0, 0.0
    for i in range(n):
        std = math.sqrt(max(var, min_std * min_std))
        warmed = i >= warmup
        if warmed:
            z[i] = abs(r[i] - mean) / std
        d = r[i] - mean
        if warmed:
            d = min(max(d, -clip * std), clip * std)
        w = alpha if warmed else 1.0 / (i + 1)
        mean += w * d
        var = (1 - w) * (var + w * d * d)
    return z


@njit(cache=True)
def likelihood(raw, short, long, warmup):
    """NAB's anomaly likelihood: the tail probability of the recent mean of ``raw`` (over ``short``)
    under a normal fit to its trailing ``long`` values; returned as -log10(1 - L) style z."""
    n = raw.size
    out = np.zeros(n)
    csum = np.zeros(n + 1)
    for i in range(n):
        csum[i + 1] = csum[i] + raw[i]
    means = np.zeros(n)
    for i in range(n):
        lo = max(0, i - short + 1)
        means[i] = (csum[i + 1] - csum[lo]) / (i + 1 - lo)
    for i in range(warmup, n):
        lo = max(0, i - long)
        hist = raw[lo:i]
        mu = hist.mean()
        sd = max(hist.std(), 1e-3)
        out[i] = (means[i] - mu) / sd
    return out


@njit(cache=True)
def refractory(score, threshold, hold):
    """Scores after a crossing of ``threshold`` are capped below it for ``hold`` samples."""
    out = score.copy()
    until = -1
    for i in range(score.size):
        if i <= until:
            out[i] = min(out[i], threshold * 0.999)
        elif score[i] >= threshold:
            until = i + hold
    return out


def squash(z: np.ndarray, scale: float) -> np.ndarray:
    """A monotone map of z ≥ 0 into [0, 1) with resolution at every scale (no ties at 1.0)."""
    z = np.maximum(z, 0.0)
    return z / (z + scale)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle")
    ap.add_argument("data")
    ap.add_argument("--backend", default="numba-int8")
    args = ap.parse_args(argv)
    cached = forecasts(args.bundle, Path(args.data), args.backend, Path(args.bundle) / "nab_forecasts.npz")
    files = {}
    for name, (ts, windows, x, expected) in cached.items():
        lstm = np.where(np.isfinite(expected), x - np.nan_to_num(expected), 0.0)  # (none during the settle)
        naive = x - np.concatenate([[x[0]], x[:-1]])
        files[name] = (ts, windows, lstm, naive)

    def score(make) -> float:
        scored = {name: (ts, make(lstm, naive), windows) for name, (ts, windows, lstm, naive) in files.items()}
        return nab.corpus_score(scored, "standard")["score"]

    ideas = {
        "z (EWMA a=0.01), LSTM residual": lambda r, n: squash(ewm_z(r, 0.01, 50, 5.0), 5),
        "z (EWMA a=0.01), last-value residual": lambda r, n: squash(ewm_z(n, 0.01, 50, 5.0), 5),
        "z (EWMA a=0.001), LSTM residual": lambda r, n: squash(ewm_z(r, 0.001, 50, 5.0), 5),
    }
    for short in (5, 10):
        for long in (500, 2000):
            ideas[f"likelihood of z (short {short}, long {long})"] = (
                lambda r, n, s=short, lg=long: squash(likelihood(ewm_z(r, 0.01, 50, 5.0), s, lg, 50), 3))
    for hold in (100, 300, 600):
        for thr in (0.5, 0.6, 0.7):
            ideas[f"z + refractory {hold} at {thr}"] = (
                lambda r, n, h=hold, t=thr: refractory(squash(ewm_z(r, 0.01, 50, 5.0), 5), t, h))
            ideas[f"likelihood(10, 2000) + refractory {hold} at {thr}"] = (
                lambda r, n, h=hold, t=thr: refractory(squash(likelihood(ewm_z(r, 0.01, 50, 5.0), 10, 2000, 50), 3),
                                                       t, h))
    for label, make in ideas.items():
        print(f"{score(make):7.2f}  {label}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
