"""Study: does multi-step forecast disagreement add to the detector's views on the NAB dev subset?

    python research/multistep_study.py BUNDLE_WITH_HORIZON_H ../shared/data/nab-dev

The bundle forecasts H samples ahead (``edge-lstm train --horizon H``). For each target sample the
H forecasts made 1..H samples earlier are compared with it (multi-step errors) and with each other
(disagreement); each is turned into a novelty ratio against its trailing maximum, combined with the
product detector's views (edge_lstm.detect.detector, fed the one-step forecast) by taking the largest, and
scored with NAB's scorer (corpus-optimised threshold).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import edge_lstm
from edge_lstm.evaluate import nab
from edge_lstm.evaluate.labelled import discover, read_series
from edge_lstm.evaluate.protocol import nab_probation
from edge_lstm.stream.scaling import standard_scaling
from research.nab_study import SETTLE, detector_scores, squash, trailing_novelty


def aligned(y: np.ndarray) -> np.ndarray:
    """(L, H) forecasts made at t for t+1..t+H -> (L, H): at row tau, the forecasts of x[tau] made h+1 samples
    earlier (NaN where none)."""
    n, h = y.shape
    out = np.full((n, h), np.nan)
    for k in range(h):
        out[k + 1:, k] = y[: n - k - 1, k]
    return out


def main() -> None:
    warnings.filterwarnings("ignore", category=RuntimeWarning)  # nanmean/nanstd of rows with no forecast yet
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("data", type=Path)
    parser.add_argument("--backend", default="numba-int8")
    args = parser.parse_args()
    model = edge_lstm.load(args.bundle, backend=args.backend)
    files = {}
    for path, name, windows in discover(args.data, args.data / "combined_windows.json"):
        s = read_series(path, name, windows)
        mean, scale = standard_scaling(s.values[: nab_probation(len(s.ts))])
        x = ((s.values - mean) / scale).astype(np.float32)
        y = model.run(x).reshape(len(x), -1).astype(np.float64)
        files[name] = (s.ts, s.windows, x[:, 0].astype(np.float64), aligned(y))
    horizon = next(iter(files.values()))[3].shape[1]
    print(f"horizon {horizon}")

    def run(label: str, make) -> None:
        scored = {name: (ts, squash(make(x, f)), w) for name, (ts, w, x, f) in files.items()}
        print(f"{nab.corpus_score(scored, 'standard')['score']:7.2f}  {label}", flush=True)

    def one_step(f: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(f[:, 0]), x, f[:, 0])

    def views(x, f):
        return detector_scores(x, one_step(f, x), z_gate=4.0)

    def errors(x, f):
        err = np.abs(x[:, None] - f)
        return np.nan_to_num(np.nanmean(err, axis=1))

    def disagreement(x, f):
        return np.nan_to_num(np.nanstd(f, axis=1))

    run("views (one-step forecast of this model)", views)
    run("mean multi-step error alone", lambda x, f: trailing_novelty(errors(x, f), 1200, 2.0, SETTLE))
    run("disagreement alone", lambda x, f: trailing_novelty(disagreement(x, f), 1200, 2.0, SETTLE))
    for weight in (0.8, 1.0):
        run(f"views + mean multi-step error x{weight}", lambda x, f, w=weight: np.maximum(
            views(x, f), w * trailing_novelty(errors(x, f), 1200, 2.0, SETTLE)))
        run(f"views + disagreement x{weight}", lambda x, f, w=weight: np.maximum(
            views(x, f), w * trailing_novelty(disagreement(x, f), 1200, 2.0, SETTLE)))


if __name__ == "__main__":
    main()
