"""Replay a recorded series through the daemon's streaming path, keeping every sample's score. Pure.

The samples go through :class:`~edge_lstm.stream.engine.Engine` exactly as the daemon feeds them (the
bundle's backend steps one sample at a time, carrying h and c; the detector scores each sample
against the forecast made one sample earlier), so a replay shows what a deployed daemon would
have published, with no look-ahead: a sample's score depends on the samples before it only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge_lstm.runtime.model import Model
from edge_lstm.stream.engine import Engine, EngineConfig
from edge_lstm.stream.events import Event, Forecast, Scored
from edge_lstm.stream.sample import Sample

#: Samples handed to the engine per call (the result does not depend on it; it bounds memory).
CHUNK = 4096


@dataclass
class Trace:
    """Per-sample results of a replay, aligned with its input (NaN/False before the first forecast)."""

    ts: np.ndarray
    value: np.ndarray  # the target feature, in the series' units
    expected: np.ndarray  # one-step-ahead forecast
    lower: np.ndarray  # forecast interval (calibrated: edge_lstm.forecast.intervals)
    upper: np.ndarray
    naive: np.ndarray  # the forecast was the last value (the engine's fallback), not the model's
    z: np.ndarray
    score: np.ndarray  # the detector's anomaly score in [0, 1]
    anomalous: np.ndarray
    incidents: list[tuple[float, float]]  # debounced incidents (start, end); end = last ts if still open
    threshold_score: float  # the score at the detector's threshold
    # per incident start: the view that opened it, every view that found its samples anomalous, its peak score
    incident_views: dict[float, dict] = field(default_factory=dict)
    # the forecasts published (every forecast.every samples), every step ahead: (L, horizon), NaN between them
    ahead: np.ndarray | None = None

    def __len__(self) -> int:
        return self.ts.size


def replay(model: Model, ts: np.ndarray, values: np.ndarray, config: EngineConfig | None = None) -> Trace:
    """Stream ``values`` (L, F) stamped ``ts`` (L,) through a fresh engine (``config.standardise``
    included); the trace is in the series' own units."""
    return replay_streams(model, {"series": (ts, values)}, config)["series"]


def replay_streams(model: Model, series: dict[str, tuple[np.ndarray, np.ndarray]],
                   config: EngineConfig | None = None, joins: dict[str, float] | None = None) -> dict[str, Trace]:
    """Stream several series through one engine, merged in time order, as a daemon receives a device's
    channels (named ``<device>/<channel>``, so that ``anomaly.context`` can see them together). ``joins``: per
    series, the time from which its samples are another recording (:meth:`~edge_lstm.detect.detector.Detector.resume`:
    nothing compared across it is judged)."""
    config = config or EngineConfig()
    target = config.target_feature
    names = list(series)
    values = {name: np.asarray(v, np.float64).reshape(len(t), -1) for name, (t, v) in series.items()}
    traces = {}
    for name, (t, _) in series.items():
        n = len(t)
        traces[name] = Trace(ts=np.asarray(t, np.float64), value=values[name][:, target],
                             expected=np.full(n, np.nan), lower=np.full(n, np.nan), upper=np.full(n, np.nan),
                             naive=np.zeros(n, bool),
                             z=np.full(n, np.nan), score=np.full(n, np.nan), anomalous=np.zeros(n, bool),
                             incidents=[], threshold_score=0.5)
    position = {name: {float(x): i for i, x in enumerate(series[name][0])} for name in names}

    def observe(scored: Scored) -> None:
        for row in np.unique(scored.streams):
            name, mine = engine.names[row], scored.streams == row
            trace, where = traces[name], position[engine.names[row]]
            rows = np.fromiter((where[float(t)] for t in scored.ts[mine]), np.int64, int(mine.sum()))
            trace.expected[rows], trace.z[rows] = scored.expected[mine], scored.result.z[mine]
            trace.score[rows], trace.anomalous[rows] = scored.result.score[mine], scored.result.anomalous[mine]
            trace.lower[rows], trace.upper[rows] = scored.lower[mine], scored.upper[mine]
            trace.naive[rows] = scored.naive[mine]

    engine = Engine(model, config, capacity=max(1, len(names)), observer=observe)
    for name in names:
        row = engine.stream_index(name)
        if joins and name in joins:
            engine.detector.resume(np.array([row]), joins[name])
        traces[name].ahead = np.full((len(traces[name]), engine.horizon), np.nan)
    merged = sorted((float(t), k, i) for k, name in enumerate(names) for i, t in enumerate(series[name][0]))
    opened: dict[str, float] = {}

    def collect(events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Forecast):
                traces[event.stream].ahead[position[event.stream][event.ts]] = event.values
                continue
            info = traces[event.stream].incident_views.setdefault(event.start, {"opened_by": event.view})
            info.update(views=list(event.views), peak_score=event.peak_score)
            if event.state == "open":
                opened[event.stream] = event.start
            else:
                traces[event.stream].incidents.append((event.start, event.end))
                opened.pop(event.stream, None)

    rows = [[tuple(r) for r in values[name].tolist()] for name in names]
    for lo in range(0, len(merged), CHUNK):
        items = [(names[k], Sample(t, rows[k][i])) for t, k, i in merged[lo : lo + CHUNK]]
        collect(engine.process(items))
    collect(engine.flush())
    for name, start in opened.items():
        traces[name].incidents.append((start, float(traces[name].ts[-1])))
    for trace in traces.values():
        trace.incidents.sort()
        trace.threshold_score = engine.detector.threshold_score
    return traces
