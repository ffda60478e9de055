"""NAB scores of the same evaluation trained with several seeds, side by side, with their mean and range.

    python tools/nab_seeds_summary.py build/nab-seed*/numba-int8/summary.json

(``make evaluate-nab-seeds`` writes those summaries and then runs this.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def main(paths: list[str]) -> None:
    rows = []
    print(f"{'model':<24} {'standard':>9} {'low FP':>7} {'low FN':>7} {'windows':>8} {'false':>6}")
    for path in paths:
        summary = json.loads(Path(path).read_text(encoding="utf-8"))
        scores = [summary["nab"][p]["score"] for p in PROFILES]
        incidents = summary["incidents"]
        name = Path(path).parent.parent.name
        print(f"{name:<24} {scores[0]:>9.2f} {scores[1]:>7.2f} {scores[2]:>7.2f} "
              f"{incidents['detected']:>4} / {incidents['windows']:<3}{incidents['false']:>5}")
        rows.append(scores)
    if rows:
        standard = [r[0] for r in rows]
        print(f"{'mean of ' + str(len(rows)):<24} {sum(standard) / len(rows):>9.2f} "
              f"{sum(r[1] for r in rows) / len(rows):>7.2f} {sum(r[2] for r in rows) / len(rows):>7.2f}   "
              f"(standard {min(standard):.2f}-{max(standard):.2f})")


if __name__ == "__main__":
    main(sys.argv[1:])
