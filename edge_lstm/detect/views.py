"""The detector's views, one compiled step each over the per-stream arrays it owns (passed as a tuple), called by
:func:`edge_lstm.detect.detector._update` for each sample in order. A view's step returns its novelty ratio
(anomalous above 1; 0 while it has none) and when what it judged began; those that learn as they judge (silence,
stuck) learn there, the others in their ``learn`` step after the incident is decided. The module docstring of
:mod:`edge_lstm.detect.detector` says what each view asks."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from edge_lstm.detect.measures import pattern_distance, roll, trailing_max

LEVEL_GATE = 0.5  # the level view is damped while its excursion is under z_gate x this many residual spreads


@njit(cache=True)
def forecast_ratio(size, z, history, z_gate, min_std):
    """How far ``|residual|`` exceeds the trailing maximum ``history``, damped while z is below ``z_gate``."""
    return size / max(history, min_std) * min(1.0, z / z_gate)


@njit(cache=True)
def learn_residual(i, r, std, warmed, threshold, alpha, stats):
    """Learn a residual into the running mean and variance (``stats``: count, mean, var): clipped to the threshold
    once warmed up, Welford while warming up, then EWMA. Returns the weight it was learned with."""
    count, mean, var = stats
    delta = r - mean[i]
    if warmed:
        limit = threshold * std
        delta = min(max(delta, -limit), limit)
    n = count[i] + 1
    weight = alpha if warmed else 1.0 / n
    mean[i] += weight * delta
    var[i] = (1.0 - weight) * (var[i] + weight * delta * delta)
    return weight


@njit(cache=True)
def pattern_step(i, x, t, seen, warmup, pattern_gate, min_std, seasonal_known, length, seg, pattern, query):
    """Keep value ``x`` (stamped ``t``) and judge the last ``length`` values against their nearest earlier window:
    (distance, the trailing maximum of distances, ratio, when the window began); distance -1 while there is none.
    ``seasonal_known``: the seasonal memory has seen this value at this time of day (no news here either)."""
    recent, recent_ts, segments, _segment_sum, distances, distance_mean, distance_blocks = pattern
    seen_now = seen + 1
    recent[i, seen % length] = x
    recent_ts[i, seen % length] = t
    distance = pattern_distance(recent[i], segments[i], seen_now, length, seg, query)
    history, ratio = 0.0, 0.0
    if distance >= 0.0:
        history = trailing_max(distance_blocks[i])
        if history > 0.0 and distances[i] >= warmup and not seasonal_known:
            gate = min(1.0, distance / max(pattern_gate * distance_mean[i], min_std))
            ratio = distance / max(history, min_std) * gate
    return distance, history, ratio, recent_ts[i, seen_now % length]


@njit(cache=True)
def pattern_learn(i, x, seen, distance, history, ratio, learned, alpha, length, seg, pattern):
    """Learn the distance (an anomalous one at most twice the trailing maximum; kept once ``learned`` values were
    seen: nearest neighbours in a short memory are too far to set the bar) and add ``x`` to the segment means."""
    _recent, _recent_ts, segments, segment_sum, distances, distance_mean, distance_blocks = pattern
    nblocks = distance_blocks.shape[1] - 1
    if distance >= 0.0:
        if ratio > 1.0 and history > 0.0:
            distance = min(distance, 2.0 * history)
        if seen + 1 >= learned:
            distance_blocks[i, nblocks] = max(distance_blocks[i, nblocks], distance)
        distances[i] += 1
        distance_mean[i] += (distance - distance_mean[i]) * max(alpha, 1.0 / distances[i])
    segment_sum[i] += x
    if (seen + 1) % seg == 0:
        ring = segments.shape[1] - length // seg
        at = ((seen + 1) // seg - 1) % ring
        segments[i, at] = segment_sum[i] / seg
        if at < length // seg:  # the ring's head, repeated after its end
            segments[i, ring + at] = segments[i, at]
        segment_sum[i] = 0.0


@njit(cache=True)
def level_ratio(i, x, std, margin, z_gate, level):
    """How far ``x`` leaves the trailing [min, max], in units of ``margin`` times that range, damped while the
    excursion is under ``z_gate * LEVEL_GATE`` residual spreads."""
    level_high, level_low, _level_fill = level
    high, low = trailing_max(level_high[i], -np.inf), -trailing_max(-level_low[i], -np.inf)
    if high <= low:
        return 0.0
    excursion = max(x - high, low - x, 0.0)
    damp = min(1.0, excursion / (LEVEL_GATE * z_gate * std))
    return excursion / ((high - low) * margin) * damp


@njit(cache=True)
def level_learn(i, x, level_block, level):
    """Widen the current block's [min, max] by ``x``; a full block joins the trailing history."""
    level_high, level_low, level_fill = level
    nblocks = level_high.shape[1] - 1
    level_high[i, nblocks] = max(level_high[i, nblocks], x)
    level_low[i, nblocks] = min(level_low[i, nblocks], x)
    level_fill[i] += 1
    if level_fill[i] >= level_block:
        roll(level_high[i], -np.inf)
        roll(level_low[i], np.inf)
        level_fill[i] = 0


@njit(cache=True)
def is_late(i, t, seen, late_gap, silence):
    """Whether a sample at ``t`` comes more than ``late_gap`` mean gaps after the stream's previous one."""
    last_ts, gap_mean, _gap_blocks = silence
    return late_gap > 0.0 and seen > 0 and gap_mean[i] > 0.0 and t - last_ts[i] > late_gap * gap_mean[i]


@njit(cache=True)
def silence_step(i, t, seen, warmed, warmup, silence_gate, alpha, min_std, silence):
    """Judge the gap before a sample at ``t`` against twice the longest lately and ``silence_gate`` mean gaps,
    then learn it (once a warm-up's worth of samples was seen, a dropout raises the bar at most twice):
    (ratio, when the gap began)."""
    last_ts, gap_mean, gap_blocks = silence
    nblocks = gap_blocks.shape[1] - 1
    gap = t - last_ts[i]
    gap_history = trailing_max(gap_blocks[i])
    ratio = 0.0
    if silence_gate > 0.0 and warmed and seen >= warmup:
        ratio = gap / max(2.0 * gap_history, silence_gate * gap_mean[i], min_std)
    if gap > 2.0 * gap_history and seen >= warmup:
        gap = 2.0 * gap_history
    gap_blocks[i, nblocks] = max(gap_blocks[i, nblocks], gap)
    gap_mean[i] += (gap - gap_mean[i]) * max(alpha, 1.0 / seen)
    return ratio, last_ts[i]


@njit(cache=True)
def stuck_step(i, x, t, seen, judge, stuck_run, stuck):
    """Count the run of identical values ``x`` belongs to and judge it (when ``judge``) against twice the longest
    run lately and ``stuck_run``; a run that ended is learned (a stuck spell raises the bar at most twice):
    (ratio, when the run began)."""
    last_value, run, run_since, run_blocks = stuck
    nblocks = run_blocks.shape[1] - 1
    repeats = run[i] + 1 if seen > 0 and x == last_value[i] else 1
    run_history = trailing_max(run_blocks[i])
    if repeats == 1:
        if seen > 0:
            ended = float(run[i])
            if run_history > 0.0 and ended > max(2.0 * run_history, float(stuck_run)):
                ended = 2.0 * run_history
            run_blocks[i, nblocks] = max(run_blocks[i, nblocks], ended)
        run_since[i] = t
    ratio = 0.0
    # Judged once the stream has changed value at least once: a signal constant from the start may be constant.
    if judge and run_history > 0.0:
        ratio = repeats / max(2.0 * run_history, float(stuck_run))
    run[i] = repeats
    last_value[i] = x
    return ratio, run_since[i]


@njit(cache=True)
def seasonal_learn(i, x, now_bin, seasonal):
    """Widen the [min, max] of the time bin ``now_bin`` by ``x`` (a slot holding an older bin starts afresh)."""
    season_low, season_high, season_bin = seasonal
    if not math.isfinite(x):
        return
    slot = now_bin % season_bin.shape[1]
    if season_bin[i, slot] != now_bin:
        season_bin[i, slot], season_low[i, slot], season_high[i, slot] = now_bin, x, x
    else:
        season_low[i, slot] = min(season_low[i, slot], x)
        season_high[i, slot] = max(season_high[i, slot], x)
