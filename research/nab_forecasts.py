"""The engine's one-step forecasts over the NAB dev subset, computed once per bundle and cached.

Each file is replayed through the daemon's engine exactly as ``edge-lstm evaluate --standardise
probation`` replays it (:func:`edge_lstm.evaluate.replay.replay`: the engine's scaling from the first 15%, its
settle, its forecast fallback), so that a study harness feeding these forecasts to the detector scores
what ``evaluate`` would. The result maps a file's name to (timestamps, windows, values, forecast made
one sample earlier), values and forecasts in the units the engine's detector sees (the model's: scaled by
the probationary period); the forecast is NaN where the engine made none (its settle, the model's
window, after the start).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import edge_lstm
from edge_lstm.evaluate.labelled import discover, read_series
from edge_lstm.evaluate.protocol import nab_probation
from edge_lstm.evaluate.replay import replay
from edge_lstm.stream.engine import EngineConfig
from edge_lstm.stream.scaling import difference_scaling, standard_scaling

#: Bumped when what the cache holds changes (an older cache is recomputed).
VERSION = 2


def forecasts(bundle: str, data: Path, backend: str, cache: Path) -> dict:
    if cache.exists():
        z = np.load(cache, allow_pickle=True)
        if int(z.get("version", 1)) == VERSION:
            return z["files"].item()
    model = edge_lstm.load(bundle, backend=backend)
    files = {}
    for path, name, windows in discover(data, data / "combined_windows.json"):
        s = read_series(path, name, windows)
        probation = nab_probation(len(s.ts))
        config = EngineConfig(gap_s=float("inf"), standardise=max(2, probation), difference=model.bundle.difference)
        trace = replay(model, s.ts, s.values, config)
        head = s.values[:probation]
        offset, scale = (difference_scaling if model.bundle.difference else standard_scaling)(head)
        x, e = ((v - offset[0]) / scale[0] for v in (trace.value, trace.expected))  # the engine's scaling.model_units
        files[name] = (s.ts, s.windows, x, e)
    np.savez(cache, files=np.array(files, dtype=object), version=VERSION)
    return files
