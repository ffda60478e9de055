"""The LSTM's one-step forecasts over the NAB dev subset, computed once per bundle and cached.

Each file is scaled by its probationary period, as ``edge-lstm evaluate --standardise probation``
does; the result maps a file's name to (timestamps, windows, scaled values, forecast made one
sample earlier).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import edge_lstm
from edge_lstm import nab
from edge_lstm.labelled import discover, read_series
from edge_lstm.scaling import standard_scaling


def forecasts(bundle: str, data: Path, backend: str, cache: Path) -> dict:
    if cache.exists():
        z = np.load(cache, allow_pickle=True)
        return z["files"].item()
    model = edge_lstm.load(bundle, backend=backend)
    files = {}
    for path, name, windows in discover(data, data / "combined_windows.json"):
        s = read_series(path, name, windows)
        mean, scale = standard_scaling(s.values[: nab.probation_length(len(s.ts))])
        x = ((s.values - mean) / scale).astype(np.float32)
        y = model.run(x)[:, 0].astype(np.float64)
        files[name] = (s.ts, s.windows, x[:, 0].astype(np.float64), np.concatenate([[x[0, 0]], y[:-1]]))
    np.savez(cache, files=np.array(files, dtype=object))
    return files
