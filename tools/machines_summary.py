"""The simulated-machine evaluations side by side, and together: faults found, false incidents per stream-day,
and the one-step forecasts' median RMSE over the last value's (and how often the last value stood in).

    python tools/machines_summary.py build/machines/*/results/summary.json

(``make evaluate-machines`` writes those summaries and then runs this.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(paths: list[str]) -> None:
    found = windows = false = 0
    days = 0.0
    print(f"{'scenario':<20} {'faults found':>12} {'false':>6} {'per stream-day':>15} {'RMSE/naive':>11} "
          f"{'fallback':>9}")
    for path in paths:
        summary = json.loads(Path(path).read_text(encoding="utf-8"))
        incidents, forecast = summary["incidents"], summary.get("forecast") or {}
        name = Path(path).parent.parent.name
        print(f"{name:<20} {incidents['detected']:>5} / {incidents['windows']:<4} {incidents['false']:>6} "
              f"{incidents['false_per_stream_day']:>15.2f} {forecast.get('rmse_vs_naive_median', float('nan')):>11.2f} "
              f"{forecast.get('fallback_mean', float('nan')):>9.1%}")
        found += incidents["detected"]
        windows += incidents["windows"]
        false += incidents["false"]
        days += incidents["stream_days"]
    print(f"{'together':<20} {found:>5} / {windows:<4} {false:>6} {false / days:>15.2f}   "
          f"(recall {found / windows:.3f}, {days:.1f} stream-days scored)")


if __name__ == "__main__":
    main(sys.argv[1:])
