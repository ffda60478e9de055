"""Study: a channel's relation to its device's load, learned once (commissioning) and then frozen.

    python research/relation_frozen.py EXPORT_DIR [EXPORT_DIR ...] [--learn 2400] [--smooth 30] [--k 6,10]
                                    [--lagged] [--inside]

For each channel of each device of an ``edge-lstm sim export`` folder (the context channel aside):
over the first ``learn / 2`` running samples (the load above 10% of its maximum so far), a least-squares
fit of the channel on the device's latest load (``--lagged``: also on the load smoothed over 30, 120
and 480 samples, for channels that follow the load with a lag, as temperature does); over the next
``learn / 2``, the spread of the fit's residual smoothed over ``smooth`` samples; after that nothing is
learned, and an alarm is that smoothed residual beyond ``k`` spreads (``--inside``: only while the
load is within the range it had while the fit was learned). Slow faults cannot hide in a model that
no longer learns; the price is that anything the commissioning period did not show looks like one.
Online, no look-ahead. Prints detected faults and false incidents against the labels.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from research.relation_study import study_latest_load


@njit(cache=True)
def _dot(a, b):
    total = 0.0
    for i in range(a.size):
        total += a[i] * b[i]
    return total


@njit(cache=True)
def _solve(a, b):
    """Gaussian elimination of a small positive-definite system (no SciPy on the device)."""
    n = b.size
    a, b = a.copy(), b.copy()
    for d in range(n):
        a[d, d] += 1e-9 * (1.0 + a[d, d])
    for p in range(n):
        for q in range(p + 1, n):
            f = a[q, p] / a[p, p]
            a[q, p:] -= f * a[p, p:]
            b[q] -= f * b[p]
    x = np.zeros(n)
    for p in range(n - 1, -1, -1):
        x[p] = (b[p] - _dot(a[p, p + 1:], x[p + 1:])) / a[p, p]
    return x


@njit(cache=True)
def relation_z(x, c, learn, smooth, lagged, inside):
    """Per sample, the smoothed residual of the frozen fit in units of its commissioning spread (0 while
    learning, stopped, or outside the learned load range with ``inside``)."""
    dim = 5 if lagged else 2
    s_mat, t_vec, coef = np.zeros((dim, dim)), np.zeros(dim), np.zeros(dim)
    f = np.zeros(dim)
    e1 = e2 = e3 = c[0]
    top, lo, hi = 0.0, np.inf, -np.inf
    s = total = squares = 0.0
    count = judged = 0
    z = np.zeros(x.size)
    for t in range(x.size):
        top = max(top, c[t])
        e1 += (c[t] - e1) / 30.0
        e2 += (c[t] - e2) / 120.0
        e3 += (c[t] - e3) / 480.0
        if c[t] < 0.1 * top:  # stopped or starting: the relation does not hold
            continue
        count += 1
        f[0], f[1] = 1.0, c[t]
        if lagged:
            f[2], f[3], f[4] = e1, e2, e3
        if count <= learn // 2:
            lo, hi = min(lo, c[t]), max(hi, c[t])
            for i in range(dim):
                t_vec[i] += f[i] * x[t]
                for j in range(dim):
                    s_mat[i, j] += f[i] * f[j]
            continue
        if count == learn // 2 + 1:
            coef = _solve(s_mat, t_vec)
        r = x[t] - _dot(coef, f)
        s = r if count == learn // 2 + 1 else s + (r - s) / smooth
        if count <= learn:
            total += s
            squares += s * s
            judged += 1
            continue
        if inside and not lo <= c[t] <= hi:
            continue
        mean = total / judged
        z[t] = abs(s - mean) / math.sqrt(max(squares / judged - mean * mean, 1e-12))
    return z


def study(folder: Path, context: str, learn: int, smooth: float, k: float, lagged: bool, inside: bool) -> None:
    study_latest_load(folder, context, f"{folder.name:<16} learn {learn} smooth {smooth:g} k {k:g}",
                      lambda x, c: relation_z(x, c, learn, smooth, lagged, inside), k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--context", default="motor_current")
    parser.add_argument("--learn", type=int, default=2400, help="running samples: half to fit, half for the spread")
    parser.add_argument("--smooth", type=float, default=30.0, help="samples")
    parser.add_argument("--k", default="6,10", help="comma-separated")
    parser.add_argument("--lagged", action="store_true", help="also regress on the load smoothed (a lagged response)")
    parser.add_argument("--inside", action="store_true", help="judge only within the learned load range")
    args = parser.parse_args()
    for folder in args.folders:
        for k in (float(v) for v in args.k.split(",")):
            study(folder, args.context, args.learn, args.smooth, k, args.lagged, args.inside)


if __name__ == "__main__":
    main()
