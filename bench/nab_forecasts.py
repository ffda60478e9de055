"""The LSTM's one-step forecasts over the NAB dev subset, computed once per bundle and cached.

Each file is scaled by its probationary period, as ``edge-lstm evaluate --standardise probation``
does; the result maps a file's name to (timestamps, windows, scaled values, forecast made one
sample earlier). A differencing bundle (``train --difference``) is fed the changes over the spread of
the probation's changes, and its forecast of the change is added to the sample, as the engine does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import edge_lstm
from edge_lstm import nab
from edge_lstm.labelled import discover, read_series
from edge_lstm.scaling import changes, difference_scaling, standard_scaling


def forecasts(bundle: str, data: Path, backend: str, cache: Path) -> dict:
    if cache.exists():
        z = np.load(cache, allow_pickle=True)
        return z["files"].item()
    model = edge_lstm.load(bundle, backend=backend)
    files = {}
    for path, name, windows in discover(data, data / "combined_windows.json"):
        s = read_series(path, name, windows)
        head = s.values[: nab.probation_length(len(s.ts))]
        mean, scale = standard_scaling(head)
        x = ((s.values - mean) / scale).astype(np.float32)
        if model.bundle.difference:
            _, step = difference_scaling(head)
            seen = (changes(s.values) / step).astype(np.float32)
            raw = s.values[:, 0] + model.run(seen)[:, 0].astype(np.float64) * step[0]
            y = (raw - mean[0]) / scale[0]
        else:
            y = model.run(x)[:, 0].astype(np.float64)
        files[name] = (s.ts, s.windows, x[:, 0].astype(np.float64), np.concatenate([[x[0, 0]], y[:-1]]))
    np.savez(cache, files=np.array(files, dtype=object))
    return files
