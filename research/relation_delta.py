"""Study: changes of a channel that the load's changes do not explain (a slow fault's signature).

    python research/relation_delta.py EXPORT_DIR [EXPORT_DIR ...] [--block 32] [--span 64] [--k 1,2]
                                   [--oracle 2100] [--warm 16] [--gate 4]

Per channel of each device of an ``edge-lstm sim export`` folder (the context channel aside), online:
block means (``block`` samples) of the channel x and of the device's latest load c; the slope b of
x's block-to-block changes on c's (least squares through the origin, exponentially weighted: learned
from load changes, so any operating level is fine); the unexplained change over ``span`` blocks,
``u = (x_now - x_then) - b (c_now - c_then)``, judged only when both blocks ran (c above 10% of its
largest so far in every sample of both). The ratio: ``|u - mean|`` over ``gate`` mean absolute
deviations (both learned with clipping at ``gate`` deviations, as the detector's residual
statistics); an alarm beyond ``k``. A drift, or wear that raises vibration at a given current,
grows ``u``; a load step does not. ``--oracle S``: blocks up to S seconds after the context
sensor's own labelled faults (not a machine's wear) are neither judged nor learned — what the
engine would have to know. Prints detected faults and false incidents against the labels.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge_lstm.evaluate.incidents import Match, match
from edge_lstm.evaluate.labelled import to_epoch
from research.relation_study import incidents, load_devices, report


@njit(cache=True)
def unexplained_ratio(x, c, block, span, gate, alpha, warm, bad, load):
    """Per sample, ``|u - mean| / (gate * mean absolute deviation)`` of the latest block (0 while not judged);
    ``bad`` marks samples whose blocks are neither judged nor learned (the context sensor's own faults);
    a block runs when every ``load`` sample in it is above 10% of the largest ``load`` block mean so far."""
    n = x.size
    out = np.zeros(n)
    ring = span + 1
    xb = np.zeros(ring)
    cb = np.zeros(ring)
    run = np.zeros(ring, np.bool_)
    blocks_done = 0
    sx = 0.0
    sc = 0.0
    sl = 0.0
    cmin = np.inf
    flag = False
    fill = 0
    sxy = 0.0
    scc = 0.0
    cmax = 0.0
    mean_u = 0.0
    mad = 0.0
    judged = 0
    v = 0.0
    for t in range(n):
        sx += x[t]
        sc += c[t]
        sl += load[t]
        cmin = min(cmin, load[t])
        flag = flag or bad[t]
        fill += 1
        out[t] = v
        if fill < block:
            continue
        xm, cm = sx / block, sc / block
        cmax = max(cmax, sl / block)
        sx = sc = sl = 0.0
        fill = 0
        at = blocks_done % ring
        xb[at], cb[at] = xm, cm
        run[at] = cmin > 0.1 * cmax and not flag
        cmin = np.inf
        flag = False
        if blocks_done >= 1:
            prev = (blocks_done - 1) % ring
            if run[at] and run[prev]:
                dx, dc = xm - xb[prev], cm - cb[prev]
                sxy = (1 - alpha) * sxy + alpha * dx * dc
                scc = (1 - alpha) * scc + alpha * dc * dc
        v = 0.0
        if blocks_done >= span:
            then = (blocks_done - span) % ring
            if run[at] and run[then] and scc > 0:
                b = sxy / scc
                u = (xm - xb[then]) - b * (cm - cb[then])
                judged += 1
                spread = max(mad, 1e-9)
                if judged > warm:
                    v = abs(u - mean_u) / (gate * spread)
                delta = u - mean_u
                if judged > warm:
                    delta = min(max(delta, -gate * spread), gate * spread)
                w = max(alpha, 1.0 / judged)
                mean_u += w * delta
                mad += w * (abs(delta) - mad)
        blocks_done += 1
        out[t] = v
    return out


def latest(series, other) -> np.ndarray:
    """``other``'s latest value at each of ``series``' sample times (its first before it starts)."""
    at = np.searchsorted(other.ts, series.ts, side="right") - 1
    return np.where(at >= 0, other.values[np.maximum(at, 0), 0], other.values[0, 0]).astype(np.float64)


def context_anomalies(results: Path, name: str) -> np.ndarray:
    """Times of the context channel's anomalous samples in ``edge-lstm evaluate``'s results file (an
    incident's onset scores above 0.5, its later samples just below: 0.999 / 1.999)."""
    stem = Path(name)
    path = results / "edgelstm" / stem.parent / f"edgelstm_{stem.stem}.csv"
    rows = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
    times = np.array([to_epoch(t, str(path)) for t in rows["timestamp"]])
    return np.sort(times[rows["anomaly_score"] >= 0.4997])


def study(folder: Path, context: str, k: float, oracle: float, results: Path | None = None, after: float = 0.0,
          **settings) -> None:
    """Judge each channel; ``oracle`` > 0: blocks within that many seconds of the context channel's own
    labelled faults are not judged or learned (what an incident of the context channel would tell)."""
    total, days, per_channel = Match(), 0.0, {}
    kinds = json.loads((folder / "fault_kinds.json").read_text())
    for channels in load_devices(folder).values():
        load = channels[context]
        anomalous = context_anomalies(results, load.name) if results is not None else None
        for channel, series in channels.items():
            days += (series.ts[-1] - series.ts[0]) / 86_400
            if channel == context:
                total = total + match([], series.windows)
                continue
            c = latest(series, load)
            bad = np.zeros(series.ts.size, np.bool_)
            if anomalous is not None:  # the engine's view: blocks within `after` s of the context channel's anomalies
                at_time = np.searchsorted(anomalous, series.ts, side="right") - 1
                bad |= (at_time >= 0) & (series.ts - anomalous[np.maximum(at_time, 0)] <= after)
            if oracle > 0:  # the context sensor's own faults (a machine's wear moves every channel: not these)
                for (a, b), kind in zip(load.windows, kinds.get(load.name, []), strict=False):
                    if kind != "degradation":
                        bad |= (series.ts >= a) & (series.ts <= b + oracle)
            v = unexplained_ratio(series.values[:, 0].astype(np.float64), c, settings["block"], settings["span"],
                                  settings["gate"], settings["alpha"], settings["warm"], bad, c)
            found = match(incidents(v > k, series.ts, quiet=600.0), series.windows)
            per_channel[channel] = per_channel.get(channel, Match()) + found
            total = total + found
    report(f"{folder.parent.name} k {k}", total, days, per_channel)


def study_pairs(folder: Path, context: str, k: float, **settings) -> None:
    """Every channel (the context's too) against each other channel of its device: a channel is anomalous
    when its changes disagree with *every* other channel's (the smallest of its pairs' ratios beyond ``k``),
    so the sensor that broke a relation is told from the ones that still agree with one another."""
    total, days, per_channel = Match(), 0.0, {}
    for channels in load_devices(folder).values():
        load = channels[context]
        for channel, series in channels.items():
            days += (series.ts[-1] - series.ts[0]) / 86_400
            x = series.values[:, 0].astype(np.float64)
            running = latest(series, load)
            bad = np.zeros(x.size, np.bool_)
            ratios = [unexplained_ratio(x, latest(series, other), settings["block"], settings["span"], settings["gate"],
                                        settings["alpha"], settings["warm"], bad, running)
                      for name, other in channels.items() if name != channel]
            v = np.min(ratios, axis=0)
            found = match(incidents(v > k, series.ts, quiet=600.0), series.windows)
            per_channel[channel] = per_channel.get(channel, Match()) + found
            total = total + found
    report(f"{folder.parent.name} pairs k {k}", total, days, per_channel)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--context", default="motor_current")
    parser.add_argument("--block", type=int, default=32)
    parser.add_argument("--span", type=int, default=64)
    parser.add_argument("--gate", type=float, default=3.0)
    parser.add_argument("--alpha", type=float, default=0.02)
    parser.add_argument("--warm", type=int, default=64, help="judged blocks before alarms")
    parser.add_argument("--oracle", type=float, default=0.0, help="s after the context's labelled faults")
    parser.add_argument("--k", default="1", help="comma-separated")
    parser.add_argument("--results", action="store_true",
                        help="mask by the context channel's anomalies in FOLDER/../results (make evaluate-machines)")
    parser.add_argument("--pairs", action="store_true", help="every channel against every other (study_pairs)")
    parser.add_argument("--after", type=float, default=2100.0, help="s masked after each (with --results)")
    args = parser.parse_args()
    settings = {key: getattr(args, key) for key in ("block", "span", "gate", "alpha", "warm")}
    for folder in args.folders:
        for k in (float(v) for v in args.k.split(",")):
            if args.pairs:
                study_pairs(folder, args.context, k, **settings)
                continue
            study(folder, args.context, k, args.oracle, folder.parent / "results" if args.results else None,
                  args.after, **settings)


if __name__ == "__main__":
    main()
