"""What the engine takes of a batch, before any step (:func:`queue`): samples put in time order per stream, stale
and repeated ones dropped, a reset device clock told from a late sample, new streams' samples held until their
scaling is known, and each sample's relation ratio. Pure; it keeps its holdings in the engine's state
(``warming``, ``behind``), which checkpoints carry."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from edge_lstm.stream.sample import Sample

if TYPE_CHECKING:
    from edge_lstm.stream.engine import Engine


def queue(engine: Engine, items: list[tuple[str, Sample]]) -> tuple[list[tuple[int, list[Sample]]],
                                                                      dict[int, np.ndarray]]:
    """Each stream's samples to step now, in time order (by bank row), and their relation ratios."""
    pending: dict[int, list[Sample]] = {}
    for name, sample in items:
        pending.setdefault(engine.stream_index(name), []).append(sample)
    queues = []
    for index, samples in pending.items():
        samples.sort(key=lambda s: s.ts)
        samples = clock(engine, index, samples)
        fresh = [s for s in samples if s.ts > engine.last_ts[index]]
        # Keep strictly increasing times: drop duplicates of a timestamp within the batch too.
        ordered = [s for i, s in enumerate(fresh) if i == 0 or s.ts > fresh[i - 1].ts]
        engine.counters["stale"] += len(samples) - len(ordered)
        if ordered:
            queues.append((index, ordered))
    if engine.config.standardise:
        queues = calibrate(engine, queues)
    return queues, relations(engine, queues)


def clock(engine: Engine, index: int, samples: list[Sample]) -> list[Sample]:
    """A stream's new samples (in time order), minus those held as possibly from a reset clock: samples
    stamped more than ``gap_s`` before the stream's last are held; ``clock_reset`` of them in a row restart
    the stream, which then takes them; a sample after its last (the clock is fine) drops the held ones as
    stale. (Within ``gap_s`` behind, a sample is a late or repeated one: stale.) A stream still gathering
    its scaling (``standardise``) is judged by the last sample it holds for that, and starts gathering anew."""
    n = engine.config.clock_reset
    warming = engine.warming.get(index)
    last = warming[-1].ts if warming else engine.last_ts[index]
    if not n or not np.isfinite(last):
        return samples
    far = last - engine.config.gap_s
    if samples[-1].ts > last:  # the clock is fine
        held = engine.behind.pop(index, [])
        engine.counters["stale"] += len(held)
        return samples
    held = engine.behind.setdefault(index, [])
    held.extend(s for s in samples if s.ts < far)
    if len(held) < n:
        return [s for s in samples if s.ts >= far]  # (stale: dropped by the caller)
    engine.behind.pop(index)
    engine.restart(np.array([index]), "clock_resets")
    engine.counters["stale"] += len(engine.warming.pop(index, []))  # (their times run past the new clock's)
    if engine.operating is not None:  # incidents held for the device's clock to pass them: decided now
        engine.released.extend(engine.operating.advance({engine.channels[index][0]: math.inf}))
    return sorted(held, key=lambda s: s.ts)


def calibrate(engine: Engine, queues: list[tuple[int, list[Sample]]]) -> list[tuple[int, list[Sample]]]:
    """Hold new streams' samples until ``standardise`` of them set the stream's scaling; then release them."""
    n, ready = engine.config.standardise, []
    for index, samples in queues:
        if engine.scaling.calibrated[index]:
            ready.append((index, samples))
            continue
        held = engine.warming.setdefault(index, [])
        fresh = [s for s in samples if not held or s.ts > held[-1].ts]
        engine.counters["stale"] += len(samples) - len(fresh)
        held.extend(fresh)
        if len(held) >= n:
            engine.scaling.learn(index, np.array([s.values for s in held[:n]], np.float64))
            ready.append((index, engine.warming.pop(index)))
    return ready


def relations(engine: Engine, queues: list[tuple[int, list[Sample]]]) -> dict[int, np.ndarray]:
    """Each queued sample's relation ratio (edge_lstm.detect.relations), the batch taken in time order across
    streams: a device's channels close their blocks together."""
    if engine.relations is None:
        return {}
    target = engine.config.target_feature
    out = {index: np.zeros(len(samples)) for index, samples in queues}
    merged = sorted((s.ts, index, k, float(s.values[target])) for index, samples in queues
                    for k, s in enumerate(samples))
    for ts, index, k, value in merged:
        out[index][k] = engine.relations.observe(*engine.channels[index], ts, value)
    engine.counters["relation_late"] = engine.relations.late
    return out
