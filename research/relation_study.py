"""Study: do slow faults show in the healthy relation between a device's channels and its load?

    python research/relation_study.py EXPORT_DIR [EXPORT_DIR ...] [--context motor_current]

For each device of an ``edge-lstm sim export`` folder: fit each channel as a quadratic of the
context channel on the probationary first 15% (the machine's healthy commissioning period), then
follow the fit's residual (in units of its probationary spread) with an exponential average of
time constant ``--tau`` seconds. An alarm is the average leaving ``--k`` times the largest excursion
it made during the probation (samples whose load lies outside the probation's range are not
judged). Prints detected faults and false incidents against the labels. Offline; no look-ahead
past the probation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge_lstm.evaluate.incidents import Match, match
from edge_lstm.evaluate.labelled import LabelledSeries, discover, read_series
from edge_lstm.evaluate.protocol import nab_probation as probation_length


def ewma(x: np.ndarray, ts: np.ndarray, tau: float) -> np.ndarray:
    out = np.empty_like(x)
    m, last = 0.0, ts[0]
    for i, (v, t) in enumerate(zip(x, ts, strict=True)):
        a = 1.0 - np.exp(-max(t - last, 0.0) / tau)
        m += a * (v - m)
        out[i], last = m, t
    return out


def incidents(alarm: np.ndarray, ts: np.ndarray, quiet: float) -> list[tuple[float, float]]:
    found, start, last = [], None, None
    for on, t in zip(alarm, ts, strict=True):
        if on:
            start = t if start is None else start
            last = t
        elif start is not None and t - last > quiet:
            found.append((start, last))
            start = None
    if start is not None:
        found.append((start, last))
    return found


def load_devices(folder: Path) -> dict[str, dict[str, LabelledSeries]]:
    """device -> channel -> its labelled series, from an ``edge-lstm sim export`` folder."""
    devices: dict[str, dict[str, LabelledSeries]] = {}
    for path, name, windows in discover(folder, folder / "labels.json"):
        devices.setdefault(path.parent.name, {})[path.stem] = read_series(path, name, windows)
    return devices


def study(folder: Path, context: str, tau: float, k: float) -> None:
    total, days, per_channel = Match(), 0.0, {}
    for channels in load_devices(folder).values():
        load = channels[context]
        for channel, series in channels.items():
            days += (series.ts[-1] - series.ts[0]) / 86_400
            if channel == context:
                total = total + match([], series.windows)
                continue
            x = np.interp(series.ts, load.ts, load.values[:, 0])
            y = series.values[:, 0]
            n0 = probation_length(len(y))
            coef = np.polyfit(x[:n0], y[:n0], 2)
            resid = y - np.polyval(coef, x)
            spread = max(float(np.std(resid[:n0])), 1e-9)
            m = ewma(resid / spread, series.ts, tau)
            settle = np.searchsorted(series.ts, series.ts[0] + 3 * tau)
            excursion = float(np.max(np.abs(m[settle:n0]))) if n0 > settle else 1.0
            inside = (x >= x[:n0].min()) & (x <= x[:n0].max())
            alarm = (np.abs(m) > k * excursion) & inside
            alarm[:n0] = False
            found = match(incidents(alarm, series.ts, quiet=tau), series.windows)
            per_channel[channel] = per_channel.get(channel, Match()) + found
            total = total + found
    report(f"{folder.name:<16} tau {tau:>5g} s  k {k:g}", total, days, per_channel)


def study_latest_load(folder: Path, context: str, label: str, z_of, k: float) -> None:
    """Judge every channel of every device (the context channel's own faults aside) by ``z_of(x, c)``, its
    per-sample z against the device's latest context value ``c``; alarm above ``k``; report the matches."""
    total, days, per_channel = Match(), 0.0, {}
    for channels in load_devices(folder).values():
        load = channels[context]
        for channel, series in channels.items():
            days += (series.ts[-1] - series.ts[0]) / 86_400
            if channel == context:  # its own faults are not this detector's to find
                total = total + match([], series.windows)
                continue
            at = np.searchsorted(load.ts, series.ts, side="right") - 1
            c = np.where(at >= 0, load.values[np.maximum(at, 0), 0], load.values[0, 0]).astype(np.float64)
            z = z_of(series.values[:, 0].astype(np.float64), c)
            found = match(incidents(z > k, series.ts, quiet=600.0), series.windows)
            per_channel[channel] = per_channel.get(channel, Match()) + found
            total = total + found
    report(label, total, days, per_channel)


def report(label: str, total: Match, days: float, per_channel: dict[str, Match]) -> None:
    """One line: faults found, false incidents (in all and per stream-day), and per channel."""
    print(f"{label}: faults {total.detected}/{total.windows}  false {total.false_incidents}  "
          f"per stream-day {total.false_incidents / days:.2f}  ("
          + ", ".join(f"{c}: {m.detected}/{m.windows} +{m.false_incidents}" for c, m in per_channel.items()) + ")")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--context", default="motor_current")
    parser.add_argument("--tau", default="600", help="seconds, comma-separated")
    parser.add_argument("--k", default="2", help="comma-separated")
    args = parser.parse_args()
    for folder in args.folders:
        for tau in (float(v) for v in args.tau.split(",")):
            for k in (float(v) for v in args.k.split(",")):
                study(folder, args.context, tau, k)


if __name__ == "__main__":
    main()
