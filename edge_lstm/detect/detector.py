"""Anomaly scoring of forecast residuals, for many streams at once. Pure NumPy/Numba; no I/O.

Each stream keeps a running estimate of its one-step forecast residual's mean and spread
(Welford's average during warm-up, then an exponentially weighted one), giving every residual a
z-value. Residuals beyond the z threshold update the estimate only clipped to it, so an incident
does not teach the detector that incidents are normal. Two scores, by ``mode``:

- ``"novelty"`` (default): the largest of the views' novelty ratios ``v`` (anomalous when
  ``v > 1``, score ``v / (1 + v)``), each asking whether this sample shows something the stream's
  recent history has not:

  - **forecast**: how far ``|residual|`` exceeds the largest one of the trailing ``novelty_window`` samples (by
    default a million: the stream's whole history, so that a long stream's ordinary records do not keep raising
    incidents), damped while z is below ``z_gate``: ``|r| / max|r|(trailing) * min(1, z / z_gate)``. An error the
    model makes every day is no news; a larger one is. The trailing maximum is kept per block of
    ``novelty_window / 8`` samples; a residual of an incident enters it at most at twice the bar in force when the
    incident began (with the tail floor below), so one huge spike, or a burst, does not hide the next fault; but up
    to what an earlier incident showed it enters in full (a repeat is the stream's own: a spike it shows every day
    is news twice, not every day). The residuals of the warm-up (the model's state settling from zero) never enter
    it, and the view judges from two warm-ups on. The bar is at least the |residual| the stream exceeds once in
    ``1 / tail_rate`` samples by a Gumbel fit to its maxima per ``tail_block`` samples, plus ``tail_confidence``
    standard errors of that estimate (a **tail floor**; a fit to a young stream's few maxima is uncertain): a record
    over a short history, or on a stream whose block maxima vary widely, is no news until it is also that rare. Once
    a stream has seen ``forecast_margin_after`` values (a long stream), a residual must also pass the bar by
    ``forecast_margin`` of it: a stationary stream sets a record about ln(n) times in n samples, so a long stream's
    records by a hair are mostly chance.
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
    far to set the bar), and the view judges once ``warmup`` distances are in it (a record over a handful is no
    news: it is learned as if judged). It finds shapes
    the one-step forecast follows without surprise: a daily cycle that loses its peak, a level
    the signal never sat at. The windows searched start on segment boundaries, so a stream keeps
    ``pattern_memory / pattern_segment`` segment means, not the samples. That is the view's first
    stage, for a young stream. Its **long stage** (``pattern_long_memory`` > 0) compares every value,
    not segment means, with every window of the last ``pattern_long_memory`` samples (a ripple or a
    changed beat that segment means average away; the nearest neighbour of a long history), with its
    own bar and mean, learned from half that memory on; it takes over once the stream has seen
    ``pattern_long_memory`` values, so its bar has learned from half a memory of distances before it
    judges (no burst of records when it starts). Those distances were searched over a memory not yet
    whole, so they run larger than later ones: once half a memory of distances was searched over a whole
    memory, the bar is learned from those alone. It keeps the last ``pattern_long_memory`` values and a
    running sum per lag (:func:`edge_lstm.detect.measures.lagged_distance`: O(memory) a sample).
  - **level** (``level_window`` > 0): how far the value leaves the trailing ``level_window``
    samples' [min, max], in units of ``level_margin`` times that range, damped while the excursion
    is under ``z_gate / 2`` residual spreads (noise setting a new extreme by a hair is no news),
    and only once a block (``level_window / 8`` samples) of history is kept.
  - **silence** (``silence_gate`` > 0): how much longer the gap before this sample is than both
    twice the longest gap of the trailing ``novelty_window`` samples and ``silence_gate`` times the
    mean gap. A sensor that drops out for minutes on a 1 Hz stream is news; a traffic counter that
    often skips hours is not. (With the engine's ``restart_after_s``, longer gaps restart the stream instead.)
  - **stuck** (``stuck_run`` > 0): how much longer the current run of identical values is than both
    twice the longest run of the trailing ``novelty_window`` samples and ``stuck_run``. A noisy
    sensor behind an ADC repeats a reading two or three times in a row; a stuck one repeats it.
  - **relation** (given by the engine when ``context`` names the load channel): a channel's change
    over a span that no other channel of its device explains (:mod:`edge_lstm.detect.relations`).

  A **join** (:meth:`Detector.resume`: a later part of the stream is another recording) is compared across by
  neither the forecast view (on the new recording's first two samples: forecast before it, and from the jump) nor
  the pattern view (on its first ``pattern_length`` samples).

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

from dataclasses import dataclass

import numpy as np

from edge_lstm.detect.config import DAY_S, DetectorConfig
from edge_lstm.detect.measures import rebuild_lags
from edge_lstm.detect.step import update_streams
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
              "values", "lags", "long_seen", "whole_blocks",
              "level_high", "level_low", "level_fill", "last_ts", "gap_mean", "gap_blocks",
              "last_value", "run", "run_since", "run_blocks", "season_low", "season_high", "season_bin",
              "forecast_mean", "forecast_var", "bar", "incident_size", "shown",
              "tail_max", "tail_fill", "tail_count", "tail_mean", "tail_m2", "resume_ts", "resumed")
    # A restarted stream (after a gap or a state reset) warms up again but keeps its seasonal memory: what it does
    # at each time of day does not change while it is silent (the bins are keyed by time).
    KEPT_ON_RESET = SEASONAL_MEMORY
    # Fields a checkpoint restores only all together (the long pattern stage's values, clock and bar): should one be
    # missing or sized otherwise (an older version, another pattern_long_memory), the stage starts again.
    RESTORED_TOGETHER = (("values", "long_seen", "whole_blocks"),)
    DERIVED = ("lags",)  # not in a checkpoint: summed again from the values on restore

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
        # per stage (short memory of segment means, long memory of values): distances computed, their mean, the bar
        self.distances = np.zeros((capacity, 2), np.int64)
        self.distance_mean = np.zeros((capacity, 2))
        self.distance_blocks = np.zeros((capacity, 2, BLOCKS + 1))
        # the long stage: a ring of values and the sums per lag (measures.lagged_distance)
        long = config.long_stage_memory
        # (values in float32: they are in model units, each stream scaled by its own spread; sums in float64)
        self.values = np.zeros((capacity, long + config.pattern_length + 1 if long else 1), np.float32)
        self.lags = np.zeros((capacity, long + 1 if long else 1))
        self.long_seen = np.zeros(capacity, np.int64)  # values the long stage has taken (its clock)
        # ... and the largest of its distances searched over a whole memory, per block (its bar, once enough)
        self.whole_blocks = np.zeros((capacity, BLOCKS + 1))
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
        # the forecast view's bar when the open incident began (what the incident may raise twice)
        self.bar = np.zeros(capacity)
        # the largest |residual| of the open incident, and of every closed one (learned in full when seen again)
        self.incident_size = np.zeros(capacity)
        self.shown = np.zeros(capacity)
        # the forecast view's tail: the current block's largest |residual|; the count, mean and M2 of blocks' maxima
        self.tail_max = np.zeros(capacity)
        self.tail_fill = np.zeros(capacity, np.int64)
        self.tail_count = np.zeros(capacity, np.int64)
        self.tail_mean = np.zeros(capacity)
        self.tail_m2 = np.zeros(capacity)
        # a join (resume): the time from which a new recording begins (inf: none due); the values seen before its
        # first sample (-1: none)
        self.resume_ts = np.full(capacity, np.inf)
        self.resumed = np.full(capacity, -1, np.int64)

    @property
    def capacity(self) -> int:
        return self.count.shape[0]

    @staticmethod
    def _empty(name: str) -> float:
        return {"level_high": -np.inf, "level_low": np.inf, "season_high": -np.inf, "season_low": np.inf,
                "season_bin": -1, "resume_ts": np.inf, "resumed": -1}.get(name, 0)

    def _derive(self) -> None:
        """The long pattern stage's sums per lag, summed again from its values (a checkpoint holds only those)."""
        self.lags = np.zeros((self.count.shape[0], self.lags.shape[1]))
        if self.lags.shape[1] > 1:
            rebuild_lags(self.values, self.lags, self.long_seen, self.config.pattern_length)

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
                         cfg.pattern_memory // 2, cfg.tail_block, cfg.long_stage_memory,
                         cfg.forecast_margin_after], np.int64)
        floats = np.array([cfg.threshold, cfg.alpha, cfg.min_std, cfg.z_gate, cfg.pattern_gate, cfg.level_margin,
                           cfg.silence_gate, cfg.late_gap, cfg.seasonal_bin_s, cfg.tail_rate, cfg.forecast_margin,
                           cfg.tail_confidence])
        extra = np.zeros(k) if relation is None else np.ascontiguousarray(relation, np.float64)
        update_streams(np.ascontiguousarray(idx, np.int64), value, value - np.asarray(expected, np.float64),
                       np.ascontiguousarray(ts, np.float64), extra, ints, floats,
                       (self.count, self.mean, self.var), (self.forecast_mean, self.forecast_var),
                       (self.open, self.start, self.peak, self.calm, self.peak_score, self.bar, self.incident_size,
                        self.shown),
                       (self.blocks, self.block_fill, self.seen),
                       (self.recent, self.recent_ts, self.segments, self.segment_sum, self.distances,
                        self.distance_mean, self.distance_blocks, self.values, self.lags,
                        self.long_seen, self.whole_blocks),
                       (self.level_high, self.level_low, self.level_fill),
                       (self.last_ts, self.gap_mean, self.gap_blocks),
                       (self.last_value, self.run, self.run_since, self.run_blocks),
                       (self.season_low, self.season_high, self.season_bin),
                       (self.tail_max, self.tail_fill, self.tail_count, self.tail_mean, self.tail_m2),
                       (self.resume_ts, self.resumed),
                       (out.z, out.score, out.anomalous, out.opened, out.closed, out.incident_start,
                        out.incident_peak_z, out.expected_std, out.incident_peak_score, out.view, out.since,
                        out.pattern, out.level))
        return out

    def resume(self, idx: np.ndarray, ts: float) -> None:
        """Streams ``idx`` begin a new recording at their first sample stamped ``ts`` or later (a join: the end of a
        file's training rows, where a benchmark's scored rows may be another recording). The detector keeps what it
        learned but judges nothing that compares across the join: the forecasts made before it and from its first
        sample (whose input holds the jump), and the pattern windows of its first ``pattern_length`` samples (which
        hold the jump or the join's first sample). Those are learned as an incident's are (a record raises a bar at most
        twice), so the jump does not set the bars."""
        self.resume_ts[idx] = ts
        self.resumed[idx] = -1

    def close_all(self, idx: np.ndarray) -> np.ndarray:
        """Close any open incident of streams ``idx`` (on shutdown); return which were open."""
        was = self.open[idx].copy()
        self.open[idx] = False
        return was
