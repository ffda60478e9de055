"""Anomaly scoring of forecast residuals, for many streams at once. Pure NumPy/Numba; no I/O.

Each stream keeps a running estimate of its one-step forecast residual's mean and spread
(Welford's average during warm-up, then an exponentially weighted one), giving every residual a
z-value. Residuals beyond the z threshold update the estimate only clipped to it, so an incident
does not teach the detector that incidents are normal. Two scores, by ``mode``:

- ``"novelty"`` (default): the largest of the views' novelty ratios ``v`` (anomalous when
  ``v > 1``, score ``v / (1 + v)``), each asking whether this sample shows something the stream's
  recent history has not:

  - **forecast**: how far ``|residual|`` exceeds the largest one of the trailing ``novelty_window``
    samples (by default a million: the stream's whole history, so that a long stream's ordinary records do not
    keep raising incidents), damped while z is below ``z_gate``: ``|r| / max|r|(trailing) * min(1, z / z_gate)``.
    An error the model makes every day is no news; a larger one is. The trailing maximum is kept
    per block of ``novelty_window / 8`` samples; a residual of an incident enters it at most at twice
    the maximum from before the incident began, so one huge spike, or a burst, does not hide the next
    fault. The residuals of the warm-up (the model's state settling from zero) never enter it, and the
    view judges from two warm-ups on.
    A sample arriving more than ``late_gap`` mean gaps after the previous one is neither judged nor
    learned here: the forecast it is compared with was made for a sample due long before.
    With ``seasonal_days`` > 0 (a **seasonal memory**), the residual is taken against whichever is
    nearer the sample: the forecast, or the [min, max] of a ``seasonal_bin_s`` bin within
    ``seasonal_width_s`` of this time of day on one of the last ``seasonal_days`` days. What the
    stream does every day at this hour is then no news; the pattern view, too, leaves such a sample
    alone. What is reported stays the forecast residual's: ``z`` (an incident's severity) and
    ``expected_std`` (the spread the forecast intervals scale with).
  - **pattern** (``pattern_length`` > 0): the distance from the last ``pattern_length`` values
    (averaged over segments of ``pattern_segment``) to the nearest such window of the trailing
    ``pattern_memory`` samples that does not overlap it (a left nearest neighbour, a streaming
    matrix-profile discord), over the largest such distance of the trailing ``novelty_window``,
    damped while the distance is below ``pattern_gate`` times its running mean; a distance enters that
    history once half of ``pattern_memory`` was searched (nearest neighbours in a short memory are too
    far to set the bar). It finds shapes
    the one-step forecast follows without surprise: a daily cycle that loses its peak, a level
    the signal never sat at. The windows searched start on segment boundaries, so a stream keeps
    ``pattern_memory / pattern_segment`` segment means, not the samples.
  - **level** (``level_window`` > 0): how far the value leaves the trailing ``level_window``
    samples' [min, max], in units of ``level_margin`` times that range, damped while the excursion
    is under ``z_gate / 2`` residual spreads (noise setting a new extreme by a hair is no news),
    and only once a block (``level_window / 8`` samples) of history is kept.
  - **silence** (``silence_gate`` > 0): how much longer the gap before this sample is than both
    twice the longest gap of the trailing ``novelty_window`` samples and ``silence_gate`` times the
    mean gap. A sensor that drops out for minutes on a 1 Hz stream is news; a traffic counter that
    often skips hours is not. (Gaps beyond the engine's ``gap_s`` restart the stream instead.)
  - **stuck** (``stuck_run`` > 0): how much longer the current run of identical values is than both
    twice the longest run of the trailing ``novelty_window`` samples and ``stuck_run``. A noisy
    sensor behind an ADC repeats a reading two or three times in a row; a stuck one repeats it.
  - **relation** (given by the engine when ``context`` names the load channel): a channel's change
    over a span that no other channel of its device explains (:mod:`edge_lstm.detect.relations`).

  docs/evaluation.md gives what each view and setting is worth on labelled data, and on which data
  each default was chosen.
- ``"z"``: ``z / (z + threshold)``; anomalous when ``z`` exceeds ``threshold`` (score above 0.5).

Either way the score is in [0, 1) and 0.5 is the line between normal and anomalous.

Incidents are debounced: one opens at the first anomalous sample after warm-up and closes after
``quiet`` consecutive normal samples, so a burst of anomalous samples is one incident.

>>> d = Detector(DetectorConfig(warmup=5, threshold=4.0, mode="z"))
>>> idx = np.array([0])
>>> for r in [0.1, -0.1, 0.05, -0.05, 0.0, 0.08]:
...     _ = d.update(idx, np.array([r]), np.array([0.0]), np.array([0.0]))
>>> out = d.update(idx, np.array([5.0]), np.array([0.0]), np.array([1.0]))
>>> bool(out.opened[0]), bool(out.score[0] > 0.9)
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from edge_lstm.detect.config import DAY_S, DetectorConfig
from edge_lstm.detect.measures import roll, seasonal_residual, trailing_max
from edge_lstm.detect.views import (
    forecast_ratio,
    is_late,
    learn_residual,
    level_learn,
    level_ratio,
    pattern_learn,
    pattern_step,
    seasonal_learn,
    silence_step,
    stuck_step,
)
from edge_lstm.stream.arrays import StreamArrays

BLOCKS = 8  # blocks of the trailing-maximum window
# What raised a novelty score (Update.view indexes this); "relation" comes from outside (edge_lstm.detect.relations).
VIEWS = ("forecast", "pattern", "level", "silence", "stuck", "relation")
SEASONAL_MEMORY = ("season_low", "season_high", "season_bin")  # Detector fields a stream keeps across a reset


@dataclass
class Update:
    """Per-sample results of :meth:`Detector.update`, aligned with its inputs."""

    z: np.ndarray
    score: np.ndarray
    anomalous: np.ndarray
    opened: np.ndarray  # an incident opened at this sample
    closed: np.ndarray  # an incident closed at this sample (its start: ``incident_start``)
    incident_start: np.ndarray
    incident_peak_z: np.ndarray  # the largest z of the incident so far
    expected_std: np.ndarray
    incident_peak_score: np.ndarray  # the largest score of the incident so far
    view: np.ndarray  # which view gave the score (an index into VIEWS; 0 in mode "z")
    since: np.ndarray  # when what the view judged began: the pattern window's first sample; else the sample
    pattern: np.ndarray  # the pattern view's novelty ratio (0 while it has none)
    level: np.ndarray  # the level view's (0 while it has none)


class Detector(StreamArrays):
    """Residual statistics and incident state for a growable set of streams."""

    FIELDS = ("count", "mean", "var", "open", "start", "peak", "calm", "peak_score", "blocks", "block_fill",
              "seen", "recent", "recent_ts", "segments", "segment_sum", "distances", "distance_mean", "distance_blocks",
              "level_high", "level_low", "level_fill", "last_ts", "gap_mean", "gap_blocks",
              "last_value", "run", "run_since", "run_blocks", "season_low", "season_high", "season_bin",
              "forecast_mean", "forecast_var", "bar")
    # A restarted stream (after a gap or a state reset) warms up again but keeps its seasonal memory: what it does
    # at each time of day does not change while it is silent (the bins are keyed by time).
    KEPT_ON_RESET = SEASONAL_MEMORY

    def __init__(self, config: DetectorConfig, capacity: int = 16) -> None:
        self.config = config
        self.threshold_score = config.threshold_score
        self.count = np.zeros(capacity, np.int64)
        self.mean = np.zeros(capacity)
        self.var = np.zeros(capacity)
        self.open = np.zeros(capacity, bool)
        self.start = np.zeros(capacity)
        self.peak = np.zeros(capacity)
        self.calm = np.zeros(capacity, np.int64)
        self.peak_score = np.zeros(capacity)
        self.blocks = np.zeros((capacity, BLOCKS + 1))  # max |residual| per block; the last: the current block
        self.block_fill = np.zeros(capacity, np.int64)  # samples in the current block
        # pattern view: the last pattern_length values, a ring of segment means, the distances' statistics
        self.seen = np.zeros(capacity, np.int64)  # values seen (the pattern and level views' clock)
        self.recent = np.zeros((capacity, max(1, config.pattern_length)))
        self.recent_ts = np.zeros((capacity, max(1, config.pattern_length)))
        self.segments = np.zeros((capacity, max(1, config.pattern_segments + config.pattern_length
                                                 // max(1, config.pattern_segment))))
        self.segment_sum = np.zeros(capacity)
        self.distances = np.zeros(capacity, np.int64)  # nearest-pattern distances computed
        self.distance_mean = np.zeros(capacity)
        self.distance_blocks = np.zeros((capacity, BLOCKS + 1))
        # level view: [min, max] per block of level_window / 8 values
        self.level_high = np.full((capacity, BLOCKS + 1), -np.inf)
        self.level_low = np.full((capacity, BLOCKS + 1), np.inf)
        self.level_fill = np.zeros(capacity, np.int64)
        # silence view: the previous sample's time, the mean gap, the longest gap per block
        self.last_ts = np.zeros(capacity)
        self.gap_mean = np.zeros(capacity)
        self.gap_blocks = np.zeros((capacity, BLOCKS + 1))
        # stuck view: the previous value, how many times in a row it came, the longest run per block
        self.last_value = np.zeros(capacity)
        self.run = np.zeros(capacity, np.int64)
        self.run_since = np.zeros(capacity)
        self.run_blocks = np.zeros((capacity, BLOCKS + 1))
        # seasonal memory: [min, max] of the values per time bin, in a ring of bins (which bin a slot holds: -1 none)
        self.season_low = np.full((capacity, config.seasonal_bins), np.inf)
        self.season_high = np.full((capacity, config.seasonal_bins), -np.inf)
        self.season_bin = np.full((capacity, config.seasonal_bins), -1, np.int64)
        # ... with which the view's residual is no longer the forecast's: the forecast residual's own statistics
        # (the spread reported as expected_std, which the forecast intervals scale with)
        self.forecast_mean = np.zeros(capacity)
        self.forecast_var = np.zeros(capacity)
        # the forecast view's trailing maximum when the open incident began (what the incident may raise twice)
        self.bar = np.zeros(capacity)

    @property
    def capacity(self) -> int:
        return self.count.shape[0]

    @staticmethod
    def _empty(name: str) -> float:
        return {"level_high": -np.inf, "level_low": np.inf, "season_high": -np.inf, "season_low": np.inf,
                "season_bin": -1}.get(name, 0)

    def std(self, idx: np.ndarray) -> np.ndarray:
        """The spread of streams ``idx``'s one-step forecast residuals."""
        var = self.forecast_var if self.config.seasonal_days else self.var
        return np.sqrt(np.maximum(var[idx], self.config.min_std**2))

    def update(self, idx: np.ndarray, value: np.ndarray, expected: np.ndarray, ts: np.ndarray,
               relation: np.ndarray | None = None) -> Update:
        """Score each sample ``value[j]`` (forecast ``expected[j]``) against its stream ``idx[j]``, then learn
        from it, in order (a stream may repeat). ``relation``: each sample's relation ratio (the sixth view,
        computed across a device's channels by :mod:`edge_lstm.detect.relations`); anomalous above 1."""
        cfg = self.config
        k = idx.size
        out = Update(*(np.empty(k) for _ in range(2)), *(np.empty(k, bool) for _ in range(3)),
                     *(np.empty(k) for _ in range(4)), np.zeros(k, np.int8), np.empty(k), np.zeros(k),
                     np.zeros(k))
        value = np.ascontiguousarray(value, np.float64)
        ints = np.array([cfg.warmup, cfg.quiet, max(1, -(-cfg.novelty_window // BLOCKS)), cfg.pattern_length,
                         cfg.pattern_segment, -(-cfg.level_window // BLOCKS), cfg.mode == "novelty",
                         cfg.stuck_run, cfg.seasonal_days, cfg.seasonal_reach if cfg.seasonal_days else 0,
                         int(DAY_S // cfg.seasonal_bin_s) if cfg.seasonal_days else 0,
                         cfg.pattern_memory // 2], np.int64)
        floats = np.array([cfg.threshold, cfg.alpha, cfg.min_std, cfg.z_gate, cfg.pattern_gate, cfg.level_margin,
                           cfg.silence_gate, cfg.late_gap, cfg.seasonal_bin_s])
        extra = np.zeros(k) if relation is None else np.ascontiguousarray(relation, np.float64)
        _update(np.ascontiguousarray(idx, np.int64), value, value - np.asarray(expected, np.float64),
                np.ascontiguousarray(ts, np.float64), extra, ints, floats,
                (self.count, self.mean, self.var), (self.forecast_mean, self.forecast_var),
                (self.open, self.start, self.peak, self.calm, self.peak_score, self.bar),
                (self.blocks, self.block_fill, self.seen),
                (self.recent, self.recent_ts, self.segments, self.segment_sum, self.distances, self.distance_mean,
                 self.distance_blocks),
                (self.level_high, self.level_low, self.level_fill), (self.last_ts, self.gap_mean, self.gap_blocks),
                (self.last_value, self.run, self.run_since, self.run_blocks),
                (self.season_low, self.season_high, self.season_bin),
                (out.z, out.score, out.anomalous, out.opened, out.closed, out.incident_start, out.incident_peak_z,
                 out.expected_std, out.incident_peak_score, out.view, out.since, out.pattern, out.level))
        return out

    def close_all(self, idx: np.ndarray) -> np.ndarray:
        """Close any open incident of streams ``idx`` (on shutdown); return which were open."""
        was = self.open[idx].copy()
        self.open[idx] = False
        return was


@njit(cache=True)
def _update(idx, value, residual, ts, relation, ints, floats, stats, forecast_stats, incident, clock, pattern, level,
            silence, stuck, seasonal, out):
    """The per-stream update of :meth:`Detector.update`, compiled (one call per batch of streams): each sample is
    judged by every view (:mod:`edge_lstm.detect.views`), its incident decided, then each view learns from it."""
    warmup, quiet, block, length, seg, level_block, novelty = ints[0], ints[1], ints[2], ints[3], ints[4], ints[5], \
        ints[6] != 0
    threshold, alpha, min_std, z_gate, pattern_gate, level_margin = floats[0], floats[1], floats[2], floats[3], \
        floats[4], floats[5]
    silence_gate, late_gap, bin_s = floats[6], floats[7], floats[8]
    stuck_run, seasonal_days, seasonal_reach, bins_per_day = ints[7], ints[8], ints[9], ints[10]
    pattern_learned = ints[11]  # values seen before a pattern distance enters the view's history
    count, mean, var = stats
    forecast_mean, forecast_var = forecast_stats
    blocks, block_fill, seen = clock
    season_low, season_high, season_bin = seasonal
    distance_blocks, gap_blocks, run_blocks = pattern[6], silence[2], stuck[3]
    nblocks = blocks.shape[1] - 1
    query = np.empty(max(1, length // max(1, seg)))
    for j in range(idx.size):
        i = idx[j]
        x = value[j]
        std = math.sqrt(max(var[i], min_std * min_std))
        warmed = count[i] >= warmup
        r = residual[j]
        now_bin = np.int64(0)
        if seasonal_days:
            now_bin = np.int64(math.floor(ts[j] / bin_s))
            r = seasonal_residual(x, r, now_bin, season_low[i], season_high[i], season_bin[i], seasonal_days,
                                   seasonal_reach, bins_per_day)
        z = abs(r - mean[i]) / std if warmed else 0.0
        # What is reported (an incident's severity, the engine's "channel moving", the intervals' scale): the
        # forecast residual's z and spread, which are the view's own unless the seasonal memory is on.
        z_forecast, forecast_std = z, std
        if seasonal_days:
            forecast_std = math.sqrt(max(forecast_var[i], min_std * min_std))
            if warmed:
                z_forecast = abs(residual[j] - forecast_mean[i]) / forecast_std
        size = abs(r)
        view = 0
        since = ts[j]
        history = 0.0
        distance, distance_history, v_pattern, v_level = -1.0, 0.0, 0.0, 0.0
        # A sample long after the previous one: the forecast it is compared with was made for one due long before.
        late = is_late(i, ts[j], seen[i], late_gap, silence)
        if novelty:
            history = trailing_max(blocks[i])
            # Judged once a warm-up's worth of residuals after the warm-up is kept (those of the first samples, from
            # zero state, are not the model's usual errors and never enter the history).
            judged = count[i] >= 2 * warmup and not late
            v = forecast_ratio(size, z, history, z_gate, min_std) if judged else 0.0
            if length:
                distance, distance_history, v_pattern, began = pattern_step(
                    i, x, ts[j], seen[i], warmup, pattern_gate, min_std, seasonal_days > 0 and r == 0.0, length, seg,
                    pattern, query)
                if v_pattern > v:
                    v, view, since = v_pattern, 1, began
            if level_block and warmed and seen[i] >= max(warmup, level_block):
                v_level = level_ratio(i, x, std, level_margin, z_gate, level)
                if v_level > v:
                    v, view, since = v_level, 2, ts[j]
            if (silence_gate > 0.0 or late_gap > 0.0) and seen[i] > 0:
                v_silence, began = silence_step(i, ts[j], seen[i], warmed, warmup, silence_gate, alpha, min_std,
                                                silence)
                if v_silence > v:
                    v, view, since = v_silence, 3, began
            if stuck_run > 0:
                v_stuck, began = stuck_step(i, x, ts[j], seen[i], warmed and seen[i] >= warmup, stuck_run, stuck)
                if v_stuck > v:
                    v, view, since = v_stuck, 4, began
            if relation[j] > v:
                v, view, since = relation[j], 5, ts[j]
            score = v / (1.0 + v)
            anomalous = warmed and v > 1.0
        else:
            score = z / (z + threshold)
            anomalous = warmed and z > threshold
        opened = decide(i, j, ts[j], anomalous, score, z_forecast, quiet, incident, out)
        out[7][j], out[9][j], out[10][j], out[11][j], out[12][j] = forecast_std, view, since, v_pattern, v_level
        # Learn: not from a late sample (its residual says nothing about the forecast's usual errors).
        if not late:
            weight = learn_residual(i, r, std, warmed, threshold, alpha, stats)
            if seasonal_days:  # the forecast residual's own statistics, learned alike
                delta = residual[j] - forecast_mean[i]
                if warmed:
                    limit = threshold * forecast_std
                    delta = min(max(delta, -limit), limit)
                forecast_mean[i] += weight * delta
                forecast_var[i] = (1.0 - weight) * (forecast_var[i] + weight * delta * delta)
            count[i] += 1
        # The trailing maximum of |residual|: an incident raises it at most twice what it was when the incident
        # began (not twice per sample, which compounds in a burst).
        bar = incident[5]
        if opened:
            bar[i] = history
        if anomalous and novelty and history > 0.0:
            size = min(size, 2.0 * (bar[i] if bar[i] > 0.0 else history))
        if warmed and not late:
            blocks[i, nblocks] = max(blocks[i, nblocks], size)
        if novelty and length:
            pattern_learn(i, x, seen[i], distance, distance_history, v_pattern, pattern_learned, alpha, length, seg,
                          pattern)
        block_fill[i] += 1
        if block_fill[i] >= block:
            roll(blocks[i], 0.0)
            roll(distance_blocks[i], 0.0)
            roll(gap_blocks[i], 0.0)
            roll(run_blocks[i], 0.0)
            block_fill[i] = 0
        if novelty:
            seen[i] += 1
        silence[0][i] = ts[j]  # the previous sample's time
        if seasonal_days:
            seasonal_learn(i, x, now_bin, seasonal)
        if novelty and level_block:
            level_learn(i, x, level_block, level)


@njit(cache=True)
def decide(i, j, t, anomalous, score, z, quiet, incident, out):
    """Open, extend or close stream ``i``'s incident with sample ``j`` (at ``t``) and write what is reported of it
    to ``out``; returns whether one opened. Debounced: an incident closes after ``quiet`` normal samples."""
    is_open, start, peak, calm, peak_score, _bar = incident
    was_open = is_open[i]
    opened = anomalous and not was_open
    if opened:
        start[i] = t
    if anomalous:
        peak[i] = max(peak[i], z)
        peak_score[i] = max(peak_score[i], score)
    c = 0 if anomalous else calm[i] + 1
    closed = was_open and c >= quiet
    out[0][j], out[1][j], out[2][j], out[3][j], out[4][j] = z, score, anomalous, opened, closed
    out[5][j], out[6][j], out[8][j] = start[i], peak[i], peak_score[i]
    now_open = (was_open or opened) and not closed
    is_open[i] = now_open
    calm[i] = c if now_open else 0
    if not now_open:
        peak[i] = 0.0
        peak_score[i] = 0.0
    return opened
