"""Study: the healthy relation between a channel and its device's load, learned online, as a detector.

    python research/relation_online.py EXPORT_DIR [EXPORT_DIR ...] [--context motor_current]

For each channel of each device of an ``edge-lstm sim export`` folder (the context channel aside):
the channel regressed on the device's latest context value (an exponentially weighted linear fit,
time constant ``--fit`` samples, learned only from samples not judged anomalous); the fit's residual,
made before the sample is learned (no look-ahead), smoothed over ``--smooth`` samples; its z-value
against its own running spread. An alarm is z above ``--k`` after ``--warmup`` samples. Prints
detected faults and false incidents against the labels.
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
def relation_z(x, c, fit, smooth, warmup, k, spread):
    n = x.size
    z_out = np.zeros(n)
    mc = mx = mcc = mcx = 0.0
    s = 0.0
    ms = vs = 0.0
    count = 0
    beta = 1.0 / smooth
    top = 0.0
    for t in range(n):
        top = max(top, c[t])
        if c[t] < 0.1 * top:  # stopped (or starting): the relation does not hold; neither judged nor learned
            continue
        var_c = mcc - mc * mc
        b = (mcx - mc * mx) / var_c if var_c > 1e-9 else 0.0
        a = mx - b * mc
        r = x[t] - (a + b * c[t])
        s += beta * (r - s) if count > 0 else r
        std = math.sqrt(max(vs, 1e-12))
        z = abs(s - ms) / std if count >= warmup else 0.0
        z_out[t] = z
        anomalous = z > k
        count += 1
        if not anomalous:
            w = max(1.0 / fit, 1.0 / count)
            mc += w * (c[t] - mc)
            mx += w * (x[t] - mx)
            mcc += w * (c[t] * c[t] - mcc)
            mcx += w * (c[t] * x[t] - mcx)
            ws = max(1.0 / spread, 1.0 / count)
            d = s - ms
            if count > warmup:
                d = min(max(d, -k * std), k * std)
            ms += ws * d
            vs = (1.0 - ws) * (vs + ws * d * d)
    return z_out


def study(folder: Path, context: str, fit: float, smooth: float, warmup: int, k: float, spread: float) -> None:
    study_latest_load(folder, context, f"{folder.name:<16} fit {fit:>6g} smooth {smooth:>4g} k {k:g}",
                      lambda x, c: relation_z(x, c, fit, smooth, warmup, k, spread), k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--context", default="motor_current")
    parser.add_argument("--fit", default="14400", help="samples, comma-separated")
    parser.add_argument("--smooth", default="30", help="samples, comma-separated")
    parser.add_argument("--k", default="6", help="comma-separated")
    parser.add_argument("--warmup", type=int, default=1200)
    parser.add_argument("--spread", type=float, default=14400)
    args = parser.parse_args()
    for folder in args.folders:
        for fit in (float(v) for v in args.fit.split(",")):
            for smooth in (float(v) for v in args.smooth.split(",")):
                for k in (float(v) for v in args.k.split(",")):
                    study(folder, args.context, fit, smooth, args.warmup, k, args.spread)


if __name__ == "__main__":
    main()
