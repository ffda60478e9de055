"""Calibration series for a model trained with `edge-lstm train --head 0.15 --standardise` on NAB-style data:
the first 200 probationary samples of every file, each standardised by its own probationary period.

    python bench/nab_calibration.py ../shared/data/nab-dev build/nab/calibration.csv
"""

import sys
from pathlib import Path

import numpy as np

from edge_lstm import nab
from edge_lstm.labelled import discover, read_series


def main(data: str, out: str) -> int:
    rows = []
    for path, name, _ in discover(Path(data), None):
        series = read_series(path, name)
        head = series.values[: nab.probation_length(len(series.ts)), 0]
        rows.append(((head - head.mean()) / (head.std() or 1.0))[:200])
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("value\n" + "".join(f"{v:.6f}\n" for v in np.concatenate(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
