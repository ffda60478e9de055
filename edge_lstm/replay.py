"""Replay a recorded series through the daemon's streaming path, keeping every sample's score. Pure.

The samples go through :class:`~edge_lstm.engine.Engine` exactly as the daemon feeds them (the
bundle's backend steps one sample at a time, carrying h and c; the detector scores each sample
against the forecast made one sample earlier), so a replay shows what a deployed daemon would
have published, with no look-ahead: a sample's score depends on the samples before it only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_lstm.engine import Engine, EngineConfig, Scored
from edge_lstm.model import Model
from edge_lstm.payloads import Sample

#: Samples handed to the engine per call (the result does not depend on it; it bounds memory).
CHUNK = 4096


@dataclass
class Trace:
    """Per-sample results of a replay, aligned with its input (NaN/False before the first forecast)."""

    ts: np.ndarray
    value: np.ndarray  # the target feature, in the series' units
    expected: np.ndarray  # one-step-ahead forecast
    lower: np.ndarray  # forecast interval (calibrated: edge_lstm.intervals)
    upper: np.ndarray
    z: np.ndarray
    score: np.ndarray  # the detector's anomaly score in [0, 1]
    anomalous: np.ndarray
    incidents: list[tuple[float, float]]  # debounced incidents (start, end); end = last ts if still open
    threshold_score: float  # the score at the detector's threshold

    def __len__(self) -> int:
        return self.ts.size


def replay(model: Model, ts: np.ndarray, values: np.ndarray, config: EngineConfig | None = None) -> Trace:
    """Stream ``values`` (L, F) stamped ``ts`` (L,) through a fresh engine (``config.standardise``
    included); the trace is in the series' own units."""
    config = config or EngineConfig()
    values = np.asarray(values, np.float64).reshape(len(ts), -1)
    target = config.target_feature
    n = len(ts)
    expected, z, score, lower, upper = (np.full(n, np.nan) for _ in range(5))
    anomalous = np.zeros(n, bool)
    position = {float(t): i for i, t in enumerate(ts)}

    def observe(scored: Scored) -> None:
        rows = np.fromiter((position[float(t)] for t in scored.ts), np.int64, scored.ts.size)
        expected[rows], z[rows], score[rows] = scored.expected, scored.result.z, scored.result.score
        lower[rows], upper[rows], anomalous[rows] = scored.lower, scored.upper, scored.result.anomalous

    engine = Engine(model, config, capacity=1, observer=observe)
    incidents, opened = [], None
    for lo in range(0, n, CHUNK):
        rows = zip(ts[lo : lo + CHUNK].tolist(), values[lo : lo + CHUNK].tolist(), strict=True)
        items = [("series", Sample(t, tuple(row))) for t, row in rows]
        for event in engine.process(items):
            if event.kind != "anomaly":
                continue
            if event.body["state"] == "open":
                opened = event.body["start"]
            else:
                incidents.append((event.body["start"], event.body["end"]))
                opened = None
    if opened is not None:
        incidents.append((opened, float(ts[-1])))
    return Trace(ts=np.asarray(ts, np.float64), value=values[:, target], expected=expected, lower=lower,
                 upper=upper, z=z, score=score, anomalous=anomalous, incidents=incidents,
                 threshold_score=engine.detector.threshold_score)
