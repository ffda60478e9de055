"""Study: would a device's load channel tell operating changes from faults?

    python bench/context_study.py BUNDLE EXPORT_DIR [EXPORT_DIR ...] [--context motor_current]

Replays every series of ``edge-lstm sim export`` folders through the engine (as ``edge-lstm evaluate
--gap 600`` does), then drops each incident that starts within ``--within`` seconds of an incident on
the same device's context channel that coincides with an incident on another of its channels (the
context channel's own incident included): the machine changing load or stopping moves its motor
current and the other channels together, while a fault (a sensor's, or a pump's cavitation) moves
some channels without the current, or the current alone. Prints incidents matched against the exact labels
with and without the rule. An offline study of the idea, before building it into the streaming path.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import edge_lstm
from edge_lstm import nab
from edge_lstm.engine import EngineConfig
from edge_lstm.incidents import Match, match
from edge_lstm.labelled import discover, read_series
from edge_lstm.replay import replay


def study(model, folder: Path, context: str, within: list[float], verbose: bool = False) -> None:
    config = replace(EngineConfig(gap_s=600.0), standardise=model.bundle.standardise)
    devices: dict[str, dict[str, tuple]] = defaultdict(dict)
    days, t0 = 0.0, None
    for path, name, windows in discover(folder, folder / "labels.json"):
        series = read_series(path, name, windows)
        t0 = series.ts[0] if t0 is None else t0
        trace = replay(model, series.ts, series.values, config)
        start = series.ts[nab.probation_length(len(series.ts))]
        incidents = [i for i in trace.incidents if i[1] >= start]
        devices[path.parent.name][path.stem] = (incidents, series.windows)
        days += (series.ts[-1] - series.ts[0]) / 86_400
    for w in [None, *within]:
        total = Match()
        for channels in devices.values():
            others = [i[0] for name, (incidents, _) in channels.items() if name != context for i in incidents]
            # An operating change: the context channel and another channel of the device jump together.
            changes = [i[0] for i in channels.get(context, ([], []))[0]
                       if w is not None and any(abs(i[0] - t) <= w for t in others)]
            for incidents, windows in channels.values():
                kept = [i for i in incidents if all(abs(i[0] - t) > w for t in changes)] if changes else incidents
                found = match(kept, windows)
                if verbose and found.detected < match(incidents, windows).detected:
                    lost = [win for win in windows if not any(i[0] <= win[1] and i[1] >= win[0] for i in kept)]
                    print("   lost", [(round(a - t0), round(b - t0)) for a, b in lost], "changes near",
                          [round(t - t0) for t in changes if any(abs(t - a) < 600 for a, _ in lost)])
                total = total + found
        label = "no rule" if w is None else f"within {w:g} s"
        print(f"{folder.name:<18} {label:<14} faults {total.detected:>3}/{total.windows:<3} "
              f"recall {total.recall:.2f}  false {total.false_incidents:>4}  per stream-day "
              f"{total.false_incidents / days:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--context", default="motor_current")
    parser.add_argument("--within", default="5,30,120", help="seconds, comma-separated")
    parser.add_argument("--verbose", action="store_true", help="print the labelled windows the rule loses")
    args = parser.parse_args()
    model = edge_lstm.load(args.bundle, "numba-int8")
    for folder in args.folders:
        study(model, folder, args.context, [float(w) for w in args.within.split(",")], args.verbose)


if __name__ == "__main__":
    main()
