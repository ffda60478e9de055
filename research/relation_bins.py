"""Study: a channel's level per load bin, learned the first time the machine runs at that load, then frozen.

    python research/relation_bins.py EXPORT_DIR [EXPORT_DIR ...] [--learn 300] [--steady 60] [--smooth 30]
                                  [--k 3,5] [--width 0.05]

For each channel of each device of an ``edge-lstm sim export`` folder (the context channel aside), the
device's latest load picks a bin (``width``: relative, 5% of the load per bin, so it needs no scale).
A sample counts only while the load is within ``width`` of its average over the last ``steady``
samples (the channel has settled after a load change) and above 10% of its maximum so far (not
stopped). The first ``learn`` such samples in a bin give that bin's mean and spread of the channel;
after that the bin is frozen and each sample's deviation from it, in its spread, is smoothed over
``smooth`` samples; an alarm is that average beyond ``k``. A load never run at before is learned,
not judged: a new operating state is not a fault, and slow wear cannot hide in a reference that no
longer moves. Online, no look-ahead.
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

BINS = 512


@njit(cache=True)
def relation_z(x, c, learn, steady, smooth, width):
    count, mean, m2 = np.zeros(BINS, np.int64), np.zeros(BINS), np.zeros(BINS)
    z = np.zeros(x.size)
    top, recent, u = 0.0, c[0], 0.0
    step = math.log1p(width)
    for t in range(x.size):
        top = max(top, c[t])
        recent += (c[t] - recent) / steady
        if c[t] <= 0.1 * top:  # stopped or starting
            continue
        if abs(c[t] - recent) > width * c[t]:  # the load moved lately: the channel may still be following it
            continue
        b = min(BINS - 1, max(0, int(math.log(c[t]) / step) + BINS // 2))
        if count[b] < learn:
            count[b] += 1
            d = x[t] - mean[b]
            mean[b] += d / count[b]
            m2[b] += d * (x[t] - mean[b])
            continue
        spread = math.sqrt(max(m2[b] / (count[b] - 1), 1e-12))
        u += ((x[t] - mean[b]) / spread - u) / smooth
        z[t] = abs(u)
    return z


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--context", default="motor_current")
    parser.add_argument("--learn", type=int, default=300, help="steady samples that learn a load bin")
    parser.add_argument("--steady", type=int, default=60, help="samples in one bin before the channel counts")
    parser.add_argument("--smooth", type=float, default=30.0, help="samples")
    parser.add_argument("--width", type=float, default=0.05, help="relative width of a load bin")
    parser.add_argument("--k", default="3,5", help="comma-separated")
    args = parser.parse_args()
    for folder in args.folders:
        for k in (float(v) for v in args.k.split(",")):
            label = f"{folder.name:<16} learn {args.learn} steady {args.steady} smooth {args.smooth:g} k {k:g}"
            study_latest_load(folder, args.context, label,
                              lambda x, c: relation_z(x, c, args.learn, args.steady, args.smooth, args.width), k)


if __name__ == "__main__":
    main()
