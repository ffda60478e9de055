"""The daemon's processing core: samples in, batched LSTM steps, anomaly and forecast events out.

Pure (no I/O): the daemon feeds it parsed samples and publishes what it returns. Streams are
registered as they appear and share one growable stream bank; every pass advances all streams
that have a pending sample in one batched step (a stream with several pending samples takes
several passes, in time order), except that a few streams with many samples each (batched
payloads) advance through them in one kernel call per stream. Either way the events are the same.

With ``standardise = N`` (for a model trained with ``edge-lstm train --standardise``), a new
stream's first N samples are held back; their mean and standard deviation then scale everything
the model sees from that stream, and the held samples are replayed first. Events stay in the
stream's own units.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from typing import Any

import numpy as np

from edge_lstm.detect.detector import Detector, Update
from edge_lstm.detect.operating import OperatingChanges, device_and_channel, device_clocks
from edge_lstm.detect.relations import Relations
from edge_lstm.forecast.fallback import Fallback
from edge_lstm.forecast.intervals import Bounds, Intervals
from edge_lstm.runtime.model import Model
from edge_lstm.stream import intake, state
from edge_lstm.stream.config import EngineConfig
from edge_lstm.stream.events import Event, Scored, forecast_of, incident_of
from edge_lstm.stream.sample import Sample
from edge_lstm.stream.scaling import StreamScaling

log = logging.getLogger("edge_lstm.stream.engine")

#: A stream with at least this many new samples in one batch advances through them in one kernel call.
SEQUENCE_MIN = 4
#: ... as long as fewer than this many streams have new samples in the batch.
SEQUENCE_MAX_STREAMS = 32
#: Samples after a (re)start not scored when the model takes streams of any length (edge-lstm train trains so).
SETTLE = 50



class Engine:
    """Stream registry, one stream bank, the detector and the last forecast of every stream."""

    def __init__(self, model: Model, config: EngineConfig | None = None, capacity: int = 64,
                 observer: Callable[[Scored], None] | None = None) -> None:
        self.model = model
        self.observer = observer  # called with every scored batch (evaluation and reports; not the hot path)
        self.config = config or EngineConfig()
        if not 0 <= self.config.target_feature < model.features:
            raise ValueError(f"target_feature {self.config.target_feature} is not one of the model's "
                             f"{model.features} input features")
        if self.config.difference and not self.config.standardise:
            raise ValueError("difference: the model sees changes over the spread of a stream's first N samples, "
                             "so standardise must be N > 0")
        self.horizon = self._horizon(model)
        self.settle = self.config.settle if self.config.settle >= 0 else (model.spec.window or SETTLE)
        self.streams: dict[str, int] = {}
        self.names: list[str] = []
        self.counters: Counter[str] = Counter()
        self.step_seconds: deque[float] = deque(maxlen=10_000)  # recent step latencies, for stats
        self.detector = Detector(self.config.detector, capacity)
        self.warming: dict[int, list[Sample]] = {}  # samples held until a stream's scaling is known
        self.behind: dict[int, list[Sample]] = {}  # samples far behind a stream's clock, held (``clock_reset``)
        self.released: list[Event] = []  # incidents decided at a clock reset, returned by the next process()
        self.intervals = Intervals(self.horizon, z=self.config.interval_z, warmup=self.config.detector.warmup,
                                   capacity=capacity)
        self.fallback = Fallback(self.config.fallback, self.config.fallback_alpha, self.config.detector.warmup,
                                 capacity, self.horizon)
        self.scaling = StreamScaling(model.features, self.config.standardise, self.config.difference,
                                     self.config.target_feature, capacity)
        self._bank = model.streams(capacity)
        self._alloc(capacity)
        context = self.config.operating.context
        self.operating = (OperatingChanges(context, self.config.operating.within_s, self.config.operating.move_z)
                          if context else None)
        self.device_rows: dict[str, list[int]] = defaultdict(list)
        self.channels: list[tuple[str, str]] = []  # (device, channel) of every bank row
        self.relations = Relations(self.config.relation, context) if self.config.relation.block and context else None

    def _horizon(self, model: Model) -> int:
        shape = model.spec.output_shape
        return shape[0] if len(shape) >= 1 else 1

    def _alloc(self, capacity: int, old: int = 0) -> None:
        def grown(name: str, dtype: Any) -> np.ndarray:
            shape = (capacity, self.horizon) if name == "forecast" else capacity
            fill = state.EMPTY.get(name, 0)
            new = np.full(shape, fill, dtype)
            if old:
                new[:old] = getattr(self, name)[:old]
            return new

        self.forecast = grown("forecast", np.float64)
        self.has_forecast = grown("has_forecast", bool)
        self.forecast_naive = grown("forecast_naive", bool)  # ``forecast`` is the last value (the fallback's)
        self.last_ts = grown("last_ts", np.float64)
        self.seen = grown("seen", np.int64)
        self.restarted_at = grown("restarted_at", np.int64)  # ``seen`` when the stream last (re)started
        self.incident_views = grown("incident_views", np.int64)  # bit per view (VIEWS) of the open incident's samples

    @property
    def capacity(self) -> int:
        return self._bank.n

    def _index(self, names: list[str]) -> None:
        """The streams are ``names``, bank row by bank row (after a restore or an eviction)."""
        self.names, self.streams = names, {name: i for i, name in enumerate(names)}
        self.channels, self.device_rows = [], defaultdict(list)
        for index, name in enumerate(names):
            self._register_device(index, name)

    def stream_index(self, name: str) -> int:
        """The bank row of stream ``name``, registering (and growing the bank) when new."""
        index = self.streams.get(name)
        if index is not None:
            return index
        index = len(self.names)
        if index >= self.capacity:
            self._grow(2 * self.capacity)
        self.streams[name] = index
        self.names.append(name)
        self._register_device(index, name)
        self.counters["streams"] = len(self.names)
        return index

    def _register_device(self, index: int, name: str) -> None:
        """Bank row ``index`` is stream ``name``: note its device and channel (the context rule needs them)."""
        self.channels.append(device_and_channel(name))
        self.device_rows[self.channels[-1][0]].append(index)
        if self.operating is not None:
            self.operating.add_channel(*self.channels[-1])

    def _grow(self, capacity: int) -> None:
        old, state = self.capacity, self._bank.state
        bank = self.model.streams(capacity)
        bank.state = {k: np.concatenate([v, np.zeros((capacity - old, v.shape[1]), v.dtype)]) for k, v in state.items()}
        self._bank = bank
        self.detector.grow(capacity)
        self.intervals.grow(capacity)
        self.fallback.grow(capacity)
        self.scaling.grow(capacity)
        self._alloc(capacity, old)

    def evict(self, names: list[str]) -> list[Event]:
        """Forget streams ``names`` everywhere they hold a row (:func:`edge_lstm.stream.state.evict`)."""
        return state.evict(self, names)

    def snapshot(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and JSON metadata that :meth:`restore` turns back into this engine's state."""
        return state.snapshot(self)

    def restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str | None:
        """Take the state of :meth:`snapshot` back; returns what could not be taken over, if anything."""
        return state.restore(self, arrays, meta)

    def _series(self, y: np.ndarray) -> np.ndarray:
        """Model outputs (k, outputs) -> the forecast of the target feature, (k, horizon)."""
        shaped = y.reshape(y.shape[0], *self.model.spec.output_shape)
        if shaped.ndim == 3:
            return shaped[:, :, min(self.config.target_feature, shaped.shape[2] - 1)]
        return shaped.reshape(y.shape[0], -1)[:, : self.horizon]

    def process(self, items: list[tuple[str, Sample]]) -> list[Event]:
        """Advance every stream by its new samples (in time order) and return the events they raise."""
        queues, relation = intake.queue(self, items)
        events: list[Event] = []
        # A few streams with many new samples (batched payloads) advance through them in one kernel call
        # each; many streams are faster in rounds of one batched step (measured: 3.6 vs 85 us per sample
        # for one stream; 14 vs 2.2 us per sample for 1,000 streams of 10 samples).
        few = len(queues) < SEQUENCE_MAX_STREAMS
        long = [(index, samples) for index, samples in queues if few and len(samples) >= SEQUENCE_MIN]
        queues = [(index, samples) for index, samples in queues if not few or len(samples) < SEQUENCE_MIN]
        for index, samples in long:
            events.extend(self._sequence(index, samples, relation.get(index)))
        depth = 0
        while True:
            round_items = [(index, samples[depth]) for index, samples in queues if depth < len(samples)]
            if not round_items:
                break
            round_relation = np.array([relation[index][depth] for index, samples in queues
                                       if depth < len(samples)]) if relation else None
            events.extend(self._round(round_items, round_relation))
            depth += 1
        if self.operating is None:
            return events
        touched = {self.channels[index][0] for index, _ in [*queues, *long]}
        released, self.released = self.released, []
        return released + self.operating.offer(events) + self.operating.advance(
            device_clocks(self.device_rows, self.last_ts, touched))

    def process_isolating(self, items: list[tuple[str, Sample]],
                          failed: Callable[[int, Exception], None]) -> list[Event]:
        """:meth:`process`; should it fail (a bug some input triggers), each item alone, and ``failed(k, exc)`` for
        each item ``k`` that fails, which is left: redelivered, its message would fail again, for ever. (An item the
        failed pass did take is stale the second time, so none is taken twice; the events that pass made are lost
        with it.)"""
        try:
            return self.process(items)
        except Exception:  # whatever it is, the caller must go on
            log.exception("processing %d samples failed; trying them one by one", len(items))
        events = []
        for k, item in enumerate(items):
            try:
                events.extend(self.process([item]))
            except Exception as exc:
                failed(k, exc)
        return events

    def flush(self) -> list[Event]:
        """Anomaly events still held to tell operating changes from faults, decided now (at shutdown)."""
        return self.operating.flush() if self.operating is not None else []

    def _round(self, items: list[tuple[int, Sample]], relation: np.ndarray | None = None) -> list[Event]:
        cfg = self.config
        idx = np.fromiter((i for i, _ in items), np.int64, len(items))
        ts = np.fromiter((s.ts for _, s in items), np.float64, len(items))
        x = np.array([s.values for _, s in items], dtype=np.float32)
        if cfg.restart_after_s > 0:
            gap = (self.seen[idx] > 0) & (ts - self.last_ts[idx] > cfg.restart_after_s)
            if gap.any():
                self.restart(idx[gap])
        seen_x = self.scaling.scaled(x, idx)
        finite = np.isfinite(seen_x).all(axis=1)
        if not finite.all():  # what the model cannot take (a value overflowing once scaled) is dropped, counted
            self.counters["non_finite"] += int(np.count_nonzero(~finite))
            items = [item for item, keep in zip(items, finite.tolist(), strict=True) if keep]
            idx, ts, x, seen_x = idx[finite], ts[finite], x[finite], seen_x[finite]
            relation = None if relation is None else relation[finite]
            if not items:
                return []
        self.scaling.stepped(idx, x)
        started = time.perf_counter()
        y = self._bank.step(seen_x, streams=idx)
        self.step_seconds.append(time.perf_counter() - started)
        self.counters["steps"] += 1
        self.counters["samples"] += len(items)
        value = x[:, cfg.target_feature].astype(np.float64)
        series = self.scaling.unscaled(self._series(y).astype(np.float64), idx, value)
        scored = self.has_forecast[idx] & (self.seen[idx] - self.restarted_at[idx] >= self.settle)
        naive = self._fall_back(idx, value, series, scored)
        events = self._judge(idx, ts, value, series, naive, scored, self.forecast[idx, 0], self.forecast_naive[idx],
                             self.scaling.in_units(self.detector.std(idx), idx), relation, self.seen[idx] + 1)
        self.forecast[idx] = series
        self.forecast_naive[idx] = naive[:, 0]
        self.has_forecast[idx] = True
        self.last_ts[idx] = ts
        self.seen[idx] += 1
        return events

    def _judge(self, idx: np.ndarray, ts: np.ndarray, value: np.ndarray, series: np.ndarray, naive: np.ndarray,
               scored: np.ndarray, expected: np.ndarray, judged_naive: np.ndarray, scale: np.ndarray,
               relation: np.ndarray | None, seen: np.ndarray) -> list[Event]:
        """The step path after the kernel, for both ways of stepping (a round of streams, one stream's sequence):
        score the ``scored`` samples against the forecasts ``expected`` made one sample before them (the last
        value where ``judged_naive``), teach the intervals (from scored samples the detector found normal: before
        scoring, the residual spread is not known), and make the forecast events of ``series`` due at ``seen``."""
        learn = scored.copy()
        events: list[Event] = []
        if scored.any():
            found, result = self._score(idx[scored], ts[scored], value[scored], expected[scored],
                                        judged_naive[scored], None if relation is None else relation[scored])
            events.extend(found)
            scale[scored] = self.scaling.in_units(result.expected_std, idx[scored])
            learn[scored] = ~result.anomalous
        bounds = self.intervals.update(idx, value, series, scale, learn)
        if scored.any() and self.observer is not None:
            e = expected[scored]
            self.observer(Scored(idx[scored], ts[scored], value[scored], e, result, e + bounds.before_lo[scored],
                                 e + bounds.before_hi[scored], judged_naive[scored]))
        events.extend(self._forecasts(idx, ts, series, seen, bounds, naive))
        return events

    def _fall_back(self, idx: np.ndarray, value: np.ndarray, series: np.ndarray, judged: np.ndarray) -> np.ndarray:
        """Where the model has lately forecast worse than the last value would have, step by step ahead
        (edge_lstm.forecast.fallback), put the last value in its forecasts ``series`` (in place); return where it
        did, (n, horizon)."""
        naive = self.fallback.update(idx, value, series, judged)
        if naive.any():
            series[naive] = np.broadcast_to(value[:, None], series.shape)[naive]
            self.counters["fallback_forecasts"] += int(naive[:, 0].sum())
        return naive

    def restart(self, idx: np.ndarray, why: str = "gap_resets") -> None:
        """Streams ``idx`` fell silent for longer than restart_after_s (or their clock was reset: ``why`` counts which):
        zero state, warm the detector up again."""
        self._bank.reset(idx)
        self.detector.reset(idx)
        self.intervals.reset(idx)
        self.fallback.reset(idx)
        self.has_forecast[idx] = False
        self.forecast_naive[idx] = False
        self.scaling.reset(idx)
        self.last_ts[idx] = -np.inf
        self.restarted_at[idx] = self.seen[idx]
        self.counters[why] += int(idx.size)

    def _sequence(self, index: int, samples: list[Sample], relation: np.ndarray | None = None) -> list[Event]:
        """Advance one stream through its samples in one kernel call, then score them in order
        (``relation``: their relation ratios)."""
        cfg = self.config
        ts = np.fromiter((s.ts for s in samples), np.float64, len(samples))
        gaps = np.flatnonzero(np.diff(np.concatenate([[self.last_ts[index]], ts])) > cfg.restart_after_s) \
            if cfg.restart_after_s > 0 else np.empty(0, np.int64)
        if not np.isfinite(self.last_ts[index]):
            gaps = gaps[gaps > 0]  # a new (or just reset) stream has nothing to be silent after
        if gaps.size:
            # A silence before or inside the batch: what came before it is history; start over after it.
            cut = int(gaps[-1])
            before, after = (None, None) if relation is None else (relation[:cut], relation[cut:])
            events = self._sequence(index, samples[:cut], before) if cut else []
            self.restart(np.array([index]))
            return events + self._sequence(index, samples[cut:], after)
        x = np.array([s.values for s in samples], dtype=np.float32)
        seen_x = self.scaling.scaled(x, np.full(len(samples), index), sequence=True)
        finite = np.isfinite(seen_x).all(axis=1)
        if not finite.all():  # dropped and counted, as in _round
            self.counters["non_finite"] += int(np.count_nonzero(~finite))
            samples = [s for s, keep in zip(samples, finite.tolist(), strict=True) if keep]
            ts, x = ts[finite], x[finite]
            relation = None if relation is None else relation[finite]
            if not samples:
                return []
            # (the changes without the dropped samples)
            seen_x = self.scaling.scaled(x, np.full(len(samples), index), sequence=True)
        self.scaling.stepped(index, x[-1])
        rows = np.full(len(samples), index)
        started = time.perf_counter()
        y = self._bank.advance(index, seen_x)
        self.step_seconds.append((time.perf_counter() - started) / len(samples))
        self.counters["steps"] += 1
        self.counters["samples"] += len(samples)
        value = x[:, cfg.target_feature].astype(np.float64)
        series = self.scaling.unscaled(self._series(y).astype(np.float64), rows, value)
        first = 0 if self.has_forecast[index] else 1
        first = max(first, min(len(samples), self.settle - int(self.seen[index] - self.restarted_at[index])))
        idx = np.full(len(samples), index, np.int64)
        scored = np.arange(len(samples)) >= first
        naive = self._fall_back(idx, value, series, scored)
        expected = np.concatenate([[self.forecast[index, 0]], series[:-1, 0]])
        judged_naive = np.concatenate([[self.forecast_naive[index]], naive[:-1, 0]])  # what ``expected`` came from
        scale = np.repeat(self.scaling.in_units(self.detector.std(idx[:1]), idx[:1]), len(samples))
        seen = self.seen[index] + np.arange(1, len(samples) + 1)
        events = self._judge(idx, ts, value, series, naive, scored, expected, judged_naive, scale, relation, seen)
        events.sort(key=lambda e: e.ts)  # stable: at one sample, the anomaly precedes the forecast
        self.forecast[index] = series[-1]
        self.forecast_naive[index] = naive[-1, 0]
        self.has_forecast[index] = True
        self.last_ts[index] = ts[-1]
        self.seen[index] = seen[-1]
        return events

    def _forecasts(self, idx: np.ndarray, ts: np.ndarray, series: np.ndarray, seen: np.ndarray,
                   bounds: Bounds, naive: np.ndarray) -> list[Event]:
        cfg = self.config
        if cfg.forecast_every <= 0:
            return []
        due = np.flatnonzero(seen % cfg.forecast_every == 0)
        if not due.size:
            return []
        events = [forecast_of(self.names[idx[k]], float(ts[k]), series[k], series[k] + bounds.after_lo[k],
                              series[k] + bounds.after_hi[k], self.intervals.coverage, bool(bounds.calibrated[k]),
                              naive[k]) for k in due.tolist()]
        self.counters["forecasts"] += int(due.size)
        return events

    def _score(self, idx: np.ndarray, ts: np.ndarray, value: np.ndarray, expected: np.ndarray, naive: np.ndarray,
               relation: np.ndarray | None = None) -> tuple[list[Event], Update]:
        """Detector update for samples (``idx`` may repeat a stream: they are taken in order; ``naive``: their
        forecast ``expected`` was the last value)."""
        units = self.scaling.model_units
        result = self.detector.update(idx, units(value, idx), units(expected, idx), ts, relation)
        z_threshold = self.config.detector.threshold
        events = []
        for k in np.flatnonzero(result.anomalous | result.opened | result.closed).tolist():
            row = idx[k]
            if result.opened[k]:
                self.incident_views[row] = 0
            if result.anomalous[k]:  # (the views that found the incident's samples anomalous, so far)
                self.incident_views[row] |= 1 << int(result.view[k])
            if not (result.opened[k] or result.closed[k]):
                continue
            events.append(incident_of(self.names[row], result, k, float(ts[k]), float(value[k]), float(expected[k]),
                                      bool(naive[k]), int(self.incident_views[row]), self.detector.threshold_score,
                                      z_threshold))
            self.counters["incidents_closed" if result.closed[k] else "incidents_opened"] += 1
        self.counters["anomalous_samples"] += int(result.anomalous.sum())
        if self.operating is not None:
            for k in np.flatnonzero(result.z >= self.operating.move_z).tolist():
                self.operating.moved(*self.channels[idx[k]], float(ts[k]))
            for k in np.flatnonzero(result.pattern > 1.0).tolist():
                self.operating.novel_pattern(*self.channels[idx[k]], float(ts[k]))
        return events, result
