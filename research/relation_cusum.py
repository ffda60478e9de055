"""Study: a CUSUM of the block-to-block changes no other channel explains (slow faults, early).

    python research/relation_cusum.py EXPORT_DIR [EXPORT_DIR ...] [--h 10,20] [--k 0.5] [--tolerance 0.1]

The relation view (edge_lstm/detect/relations.py) compares a channel's change over a span with its usual
size, and its statistics learn a slow fault as fast as it grows (bearing-wear's vibration rides at a
ratio of 0.9-1.0 for 20 hours). Here, per device: block means (32 samples of the load channel, by
time); per ordered pair (i, j) the block-to-block residual ``e = dx_i - b dx_j`` (b: least squares
through the origin, corrected for j's noise, as the relation view), normalised by its mean absolute
deviation plus ``tolerance`` of the explained change; a two-sided CUSUM ``S = max(0, S + |e|/dev - k)``
per sign, its statistics learned only while the CUSUM is at 0 (in control), so a fault that keeps
pushing is never learned. A channel's evidence is the smallest over its pairs (it disagrees with
every other channel); an alarm above ``h``. Judged only while the load channel ran in both blocks.
Prints detected faults and false incidents against the labels, and when each fault was first seen.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge_lstm.evaluate.incidents import Match, match
from research.relation_study import incidents, load_devices, report

BLOCK = 32
ALPHA = 0.002
RUNNING = 0.1
CAP = float(__import__("os").environ.get("CAP", "4"))


def blocks(channels: dict, context: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Block start times and block means (B, C) of every channel; NaN where a channel had no sample."""
    load = channels[context]
    width = BLOCK * float(np.mean(np.diff(load.ts[: BLOCK + 1])))
    start = min(s.ts[0] for s in channels.values())
    n = int((max(s.ts[-1] for s in channels.values()) - start) // width) + 1
    names = list(channels)
    means = np.full((n, len(names)), np.nan)
    low = np.full(n, np.inf)
    for c, name in enumerate(names):
        s = channels[name]
        b = ((s.ts - start) // width).astype(int)
        sums = np.bincount(b, s.values[:, 0], minlength=n)
        counts = np.bincount(b, minlength=n)
        means[:, c] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        if name == context:
            np.minimum.at(low, b, s.values[:, 0])
    top = np.fmax.accumulate(np.nan_to_num(means[:, names.index(context)], nan=0.0))
    running = low > RUNNING * top
    return start + width * np.arange(n) + width, means, names, running


def evidence(means: np.ndarray, running: np.ndarray, k: float, tolerance: float, warm: int) -> np.ndarray:
    """Per block and channel: the smallest over its pairs of the larger one-sided CUSUM (0 while unjudged)."""
    n, c = means.shape
    out = np.zeros((n, c))
    sxy, syy, learned = np.zeros((c, c)), np.zeros((c, c)), np.zeros((c, c))
    noise, noise_n = np.zeros(c), np.zeros(c)
    dev, judged = np.zeros((c, c)), np.zeros((c, c))
    up, down = np.zeros((c, c)), np.zeros((c, c))
    off = ~np.eye(c, dtype=bool)
    for t in range(1, n):
        ok = running[t] and running[t - 1]
        d = means[t] - means[t - 1]
        valid = np.isfinite(d)
        if not ok:
            up[:] = down[:] = 0.0
            continue
        d = np.where(valid, d, 0.0)
        pair = np.outer(valid, valid) & off
        # noise of a block difference: the smallest recent squared changes say it; use a slow log-average
        sq = np.log(np.maximum(d * d, 1e-300))
        noise_n += valid
        noise += np.where(valid, np.maximum(ALPHA, 1 / np.maximum(noise_n, 1)) * (sq - noise), 0.0)
        var = np.exp(noise) * 1.78  # E[log chi2_1] = -1.27: the log-average of squares under-reads the variance
        signal = syy - var[None, :]
        known = pair & (signal > var[None, :])
        b = np.divide(sxy, signal, out=np.zeros_like(sxy), where=known)
        e = d[:, None] - b * d[None, :]
        scale = np.maximum(dev, 1e-9) + tolerance * np.abs(b * d[None, :])
        z = np.clip(e / scale, -CAP, CAP)  # a step is the other views' to see; the CUSUM sums persistence
        warmed = known & (judged >= warm)
        up = np.where(warmed, np.maximum(0.0, up + z - k), 0.0)
        down = np.where(warmed, np.maximum(0.0, down - z - k), 0.0)
        in_control = (up == 0) & (down == 0)
        judged += known
        w = np.where(known & (in_control | (judged < warm)), np.maximum(ALPHA, 1 / np.maximum(judged, 1)), 0.0)
        size = np.where(judged > warm, np.minimum(np.abs(e), 4 * np.maximum(dev, 1e-9)), np.abs(e))
        dev += w * (size - dev)
        learned += pair
        lw = np.where(pair, np.maximum(ALPHA, 1 / np.maximum(learned, 1)), 0.0)
        sxy += lw * (np.outer(d, d) - sxy)
        syy += lw * (d[None, :] ** 2 - syy)
        s = np.where(off, np.maximum(up, down), np.inf)
        out[t] = np.where(np.isfinite(s.min(axis=1)), s.min(axis=1), 0.0)
    return out


def study(folder: Path, context: str, h: float, k: float, tolerance: float, warm: int) -> None:
    total, days, per_channel, first_seen = Match(), 0.0, {}, []
    for device, channels in load_devices(folder).items():
        ends, means, names, running = blocks(channels, context)
        ev = evidence(means, running, k, tolerance, warm)
        for c, name in enumerate(names):
            series = channels[name]
            days += (series.ts[-1] - series.ts[0]) / 86_400
            at = np.clip(np.searchsorted(ends, series.ts, side="right") - 1, 0, len(ends) - 1)
            alarm = (ev[at, c] > h) & (series.ts >= ends[0])
            found = match(incidents(alarm, series.ts, quiet=600.0), series.windows)
            for a, b in series.windows:
                hit = np.flatnonzero(alarm & (series.ts >= a) & (series.ts <= b))
                if hit.size:
                    first_seen.append(f"{device}/{name} {(series.ts[hit[0]] - a) / 3600:.2f} h in")
            per_channel[name] = per_channel.get(name, Match()) + found
            total = total + found
    report(f"{folder.parent.name} h {h}", total, days, per_channel)
    print("    first seen:", "; ".join(first_seen) or "-")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--context", default="motor_current")
    parser.add_argument("--h", default="10,20", help="comma-separated alarm levels")
    parser.add_argument("--k", type=float, default=0.5)
    parser.add_argument("--tolerance", type=float, default=0.1)
    parser.add_argument("--warm", type=int, default=32)
    args = parser.parse_args()
    for folder in args.folders:
        for h in (float(v) for v in args.h.split(",")):
            study(folder, args.context, h, args.k, args.tolerance, args.warm)


if __name__ == "__main__":
    main()
