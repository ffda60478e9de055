"""An engine's per-stream state as a whole: checkpoints (snapshot, restore) and eviction (every row a stream holds,
dropped). Pure; the daemon writes and reads the files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from edge_lstm.detect.operating import device_and_channel
from edge_lstm.forecast.intervals import Intervals
from edge_lstm.stream.arrays import compact_rows
from edge_lstm.stream.events import Event
from edge_lstm.stream.sample import Sample

if TYPE_CHECKING:
    from edge_lstm.stream.engine import Engine

#: What a checkpoint's detector statistics are measured in. Checkpoints from before this was recorded hold
#: them in the streams' own units, which for standardised streams the detector no longer uses.
DETECTOR_UNITS = "model"

#: Per-stream engine arrays saved in checkpoints.
ENGINE_ARRAYS = ("forecast", "has_forecast", "last_ts", "seen", "restarted_at", "forecast_naive", "incident_views")
#: What an engine array holds for a stream that has seen nothing, where it is not 0.
EMPTY = {"last_ts": -np.inf}


def evict(engine: Engine, names: list[str]) -> list[Event]:
    """Forget streams ``names`` everywhere they hold a row (bank, detector, intervals, fallback, engine
    arrays, held samples, relations, operating state; so in checkpoints too): the rows after them move up.
    Returns the held anomaly events of devices left with no stream, decided now. An incident open on an
    evicted stream gets no close event (its state is gone; the same name later starts afresh)."""
    gone = sorted({engine.streams[name] for name in names if name in engine.streams})
    if not gone:
        return []
    n = len(engine.names)
    keep = np.setdiff1d(np.arange(n), gone)
    new_row = {int(old): new for new, old in enumerate(keep)}
    bank = engine._bank.state
    for rows in bank.values():
        compact_rows(rows, keep, n, 0.0)
    engine._bank.state = bank
    for arrays in (engine.detector, engine.intervals, engine.fallback, engine.scaling):
        arrays.compact(keep, n)
    for name in ENGINE_ARRAYS:
        compact_rows(getattr(engine, name), keep, n, EMPTY.get(name, 0))
    engine.warming = {new_row[i]: held for i, held in engine.warming.items() if i in new_row}
    engine.behind = {new_row[i]: held for i, held in engine.behind.items() if i in new_row}
    evicted = [engine.names[i] for i in gone]
    engine._index([engine.names[i] for i in keep.tolist()])
    released = []
    for name in evicted:
        device, channel = device_and_channel(name)
        if engine.relations is not None:
            engine.relations.forget(device, channel)
        if engine.operating is not None:
            released.extend(engine.operating.forget(name, device in engine.device_rows))
    engine.counters["streams"] = len(engine.names)
    engine.counters["evicted"] += len(evicted)
    return released


def snapshot(engine: Engine) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and JSON metadata that :meth:`restore` turns back into this engine's state."""
    n = len(engine.names)
    arrays = {f"bank/{k}": v[:n] for k, v in engine._bank.state.items()}
    arrays.update({f"detector/{k}": v[:n] for k, v in engine.detector.state().items()})
    arrays.update({f"intervals/{k}": v[:n] for k, v in engine.intervals.state().items()})
    arrays.update({f"fallback/{k}": v[:n] for k, v in engine.fallback.state().items()})
    for name in ENGINE_ARRAYS:
        arrays[f"engine/{name}"] = getattr(engine, name)[:n]
    arrays.update({f"engine/{k}": v[:n] for k, v in engine.scaling.state().items()})  # (keys of the engine's own)
    warming = {engine.names[i]: [[s.ts, *s.values] for s in held] for i, held in engine.warming.items()}
    meta = {"streams": list(engine.names), "counters": dict(engine.counters), "warming": warming,
            "detector_units": DETECTOR_UNITS}
    if engine.operating is not None:
        meta["operating"] = engine.operating.state()
    if engine.relations is not None:
        relation_arrays, meta["relations"] = engine.relations.state()
        arrays.update({f"relations/{key}": value for key, value in relation_arrays.items()})
    return arrays, meta


def restore(engine: Engine, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str | None:
    """Take the state of :meth:`snapshot` back; returns what could not be taken over, if anything."""
    names = list(meta["streams"])
    capacity = max(engine.capacity, 1 << max(0, len(names) - 1).bit_length())
    if capacity > engine.capacity:
        engine._grow(capacity)
    engine._index(names)
    n = len(names)
    state = engine._bank.state
    for key in state:
        saved = np.asarray(arrays[f"bank/{key}"])
        if saved.shape != state[key][:n].shape:
            raise ValueError(f"bank/{key} holds {saved.shape}, this model's state for {n} streams is "
                             f"{state[key][:n].shape}")
        state[key][:n] = saved
    engine._bank.state = state
    note = None
    if engine.config.standardise and meta.get("detector_units") != DETECTOR_UNITS:
        note = ("the checkpoint's anomaly statistics are in the streams' units (an older version): "
                "anomaly detection warms up again")
    else:
        # (A field an older checkpoint lacks, or a memory sized by a setting that changed since: that view warms up.)
        engine.detector.restore_rows({key.removeprefix("detector/"): np.asarray(value) for key, value in arrays.items()
                                      if key.startswith("detector/")}, n)
    saved = {k: arrays[f"intervals/{k}"] for k in Intervals.FIELDS if f"intervals/{k}" in arrays}
    if len(saved) == len(Intervals.FIELDS):
        engine.intervals.load_state(saved)
    fallback = engine.fallback.state()
    if all(f"fallback/{k}" in arrays for k in fallback):  # (an older checkpoint: the model is trusted anew)
        for key in fallback:
            fallback[key][:n] = arrays[f"fallback/{key}"]
        engine.fallback.load_state(fallback)
    for owner, names in ((engine, ENGINE_ARRAYS), (engine.scaling, engine.scaling.FIELDS)):
        for name in names:
            if f"engine/{name}" in arrays:  # (a checkpoint from an older version lacks the newer fields)
                getattr(owner, name)[:n] = arrays[f"engine/{name}"]
    engine.warming = {engine.streams[name]: [Sample(row[0], tuple(row[1:])) for row in held]
                      for name, held in meta.get("warming", {}).items()}
    if engine.operating is not None and "operating" in meta:
        engine.operating.load_state(meta["operating"])
    if engine.relations is not None and "relations" in meta:
        engine.relations.load_state({key.removeprefix("relations/"): value for key, value in arrays.items()
                                     if key.startswith("relations/")}, meta["relations"])
    engine.counters.update({k: v for k, v in meta.get("counters", {}).items() if k not in engine.counters})
    return note
