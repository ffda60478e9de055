"""The detector's compiled step: every view's judgement of a sample, the incident it opens or closes, and what each
view learns from it, for a batch of samples of many streams (Numba; the state is the
:class:`~edge_lstm.detect.detector.Detector`'s arrays). The module docstring of :mod:`edge_lstm.detect.detector`
says what each view asks."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from edge_lstm.detect.measures import (
    lagged_distance,
    pattern_distance,
    push_value,
    roll,
    seasonal_residual,
    trailing_max,
)

TAIL_BLOCKS = 8  # block maxima kept before the tail's fit bounds the forecast view's bar
GUMBEL_SCALE = math.sqrt(6.0) / math.pi  # a Gumbel's scale from its standard deviation
EULER_GAMMA = 0.5772156649015329
LEVEL_GATE = 0.5  # the level view is damped while its excursion is under z_gate x this many residual spreads


@njit(cache=True, inline="always")
def tail_floor(count, mean, m2, rate, block, confidence):
    """The size exceeded once in ``1 / rate`` samples by a Gumbel fit to ``count`` block maxima (their ``mean`` and
    ``m2``, Welford's): 0 while fewer than TAIL_BLOCKS were kept or with ``rate`` 0."""
    if rate <= 0.0 or count < TAIL_BLOCKS:
        return 0.0
    sigma = math.sqrt(m2 / (count - 1))
    beta = sigma * GUMBEL_SCALE
    level = mean - EULER_GAMMA * beta + beta * math.log(1.0 / (rate * block))
    if confidence <= 0.0 or sigma <= 0.0:
        return level
    k = (level - mean) / sigma  # the frequency factor; the moment estimate's standard error (Chow's formula)
    return level + confidence * sigma * math.sqrt((1.0 + 1.1396 * k + 1.1 * k * k) / count)


@njit(cache=True, inline="always")
def learn_distance(distance, anomalous, history, kept, blocks, counts, means, stage, alpha):
    """A pattern stage learns a distance: an anomalous one at most twice its history (as an incident raises any
    bar); kept in the history only once ``kept`` (half the stage's memory searched: nearer neighbours are found in
    more history, so those of a short one are too large to set the bar). Returns the distance as learned."""
    if anomalous and history > 0.0:
        distance = min(distance, 2.0 * history)
    if kept:
        blocks[blocks.size - 1] = max(blocks[blocks.size - 1], distance)
    counts[stage] += 1
    means[stage] += (distance - means[stage]) * max(alpha, 1.0 / counts[stage])
    return distance


@njit(cache=True)
def update_streams(idx, value, residual, ts, relation, ints, floats, stats, forecast_stats, incident, clock, pattern,
                   level, silence, stuck, seasonal, tail, resume, out):
    """The per-stream update of :meth:`edge_lstm.detect.detector.Detector.update` (one call per batch of samples,
    taken in order): each sample judged by every view, its incident decided, then every view learns from it. The
    arrays come grouped per view (tuples unpacked once per call: per-view compiled helpers were measured slower,
    each call costing reference counts on the arrays it takes)."""
    count, mean, var = stats
    forecast_mean, forecast_var = forecast_stats
    is_open, start, peak, calm, peak_score, bar, incident_size, shown = incident
    blocks, block_fill, seen = clock
    recent, recent_ts, segments, segment_sum, distances, distance_mean, distance_blocks, values, lags, \
        long_seen, whole_blocks = pattern
    level_high, level_low, level_fill = level
    last_ts, gap_mean, gap_blocks = silence
    last_value, run, run_since, run_blocks = stuck
    season_low, season_high, season_bin = seasonal
    tail_max, tail_fill, tail_count, tail_mean, tail_m2 = tail
    resume_ts, resumed = resume
    z_out, score_out, anomalous_out, opened_out, closed_out, start_out, peak_out, std_out, peak_score_out, view_out, \
        since_out, pattern_out, level_out = out
    warmup, quiet, block, length, seg, level_block, novelty = ints[0], ints[1], ints[2], ints[3], ints[4], ints[5], \
        ints[6] != 0
    threshold, alpha, min_std, z_gate, pattern_gate, level_margin = floats[0], floats[1], floats[2], floats[3], \
        floats[4], floats[5]
    silence_gate = floats[6]
    late_gap = floats[7]
    stuck_run = ints[7]
    seasonal_days, seasonal_reach, bins_per_day, bin_s = ints[8], ints[9], ints[10], floats[8]
    short_learned = ints[11]  # values seen before a pattern distance enters the short stage's history
    tail_block, tail_rate = ints[12], floats[9]
    tail_confidence = floats[11]
    forecast_margin, long_stream = floats[10], ints[14]  # the forecast view's margin once a stream is long
    long_memory = ints[13]  # the pattern view's second stage (full resolution, a longer memory); 0: none
    long_learned = long_memory // 2  # ... whose distances enter its history once half its memory was searched
    # ... and whose bar, once half a memory of distances was searched over a whole memory, is theirs alone
    whole = long_memory + length + 1  # (the first value whose distance is searched over every lag)
    whole_judged = whole + long_learned
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
        # The views: forecast residual, pattern, level, silence.
        view = 0
        stage = 0
        long_distance = -1.0
        since = ts[j]
        history = 0.0
        bar_now = 0.0
        distance, distance_history, v_pattern, v_level = -1.0, 0.0, 0.0, 0.0
        record = False  # the pattern distance is a record (over its bar and gate), judged or not
        # A sample long after the previous one: the forecast it is compared with was made for one due long before.
        late = late_gap > 0.0 and seen[i] > 0 and gap_mean[i] > 0.0 and ts[j] - last_ts[i] > late_gap * gap_mean[i]
        # A join (Detector.resume): the forecasts made before it and from its first sample, and the pattern windows
        # of its first pattern_length samples (they hold the jump, or the new recording's first sample), are not
        # judged.
        if ts[j] >= resume_ts[i]:
            resumed[i], resume_ts[i] = seen[i], np.inf
        joined = resumed[i] >= 0
        forecast_across = joined and seen[i] - resumed[i] < 2
        pattern_across = joined and seen[i] - resumed[i] < length
        if novelty:
            history = trailing_max(blocks[i])
            # Judged once a warm-up's worth of residuals after the warm-up is kept (those of the first samples, from
            # zero state, are not the model's usual errors and never enter the history).
            judged = count[i] >= 2 * warmup and not late and not forecast_across
            # A record is news only if it is also rarer than once in 1 / tail_rate samples (tail_floor).
            bar_now = max(history, tail_floor(tail_count[i], tail_mean[i], tail_m2[i], tail_rate, tail_block,
                                                  tail_confidence))
            if long_stream and seen[i] >= long_stream:  # a long stream's records by a hair are mostly chance
                bar_now *= 1.0 + forecast_margin
            v = size / max(bar_now, min_std) * min(1.0, z / z_gate) if judged else 0.0
            if length:
                seen_now = seen[i] + 1
                recent[i, seen[i] % length] = x
                recent_ts[i, seen[i] % length] = ts[j]
                # Two stages: segment means over the short memory while the stream is young; once it has seen
                # long_memory values, every value over the long memory (its bar learned from half of it on).
                if long_memory:  # (the long stage keeps its own clock: a checkpoint may restore the rest alone)
                    push_value(values[i], long_seen[i], x)
                    long_seen[i] += 1
                    long_distance = lagged_distance(values[i], lags[i], long_seen[i], length)
                stage = 1 if long_memory and long_seen[i] >= long_memory else 0
                if stage:
                    distance = long_distance
                else:
                    distance = pattern_distance(recent[i], segments[i], seen_now, length, seg, query)
                if distance >= 0.0:
                    if stage == 1 and long_seen[i] >= whole_judged:
                        distance_history = trailing_max(whole_blocks[i])
                    else:
                        distance_history = trailing_max(distance_blocks[i, stage])
                    # (With the seasonal memory: a value seen at this time of day lately is no news here either.)
                    if distance_history > 0.0 and distances[i, stage] >= warmup and not (seasonal_days and r == 0.0):
                        gate = min(1.0, distance / max(pattern_gate * distance_mean[i, stage], min_std))
                        ratio = distance / max(distance_history, min_std) * gate
                        record = ratio > 1.0
                        # The short stage judges once its bar has learned a warm-up's worth of distances (a record
                        # over fewer is no news); it learns its records as if it had judged them.
                        if (stage == 1 or seen_now >= short_learned + warmup) and not pattern_across:
                            v_pattern = ratio
                            if v_pattern > v:
                                v, view, since = v_pattern, 1, recent_ts[i, seen_now % length]
            if level_block and warmed and seen[i] >= max(warmup, level_block):
                high, low = trailing_max(level_high[i], -np.inf), -trailing_max(-level_low[i], -np.inf)
                if high > low:
                    excursion = max(x - high, low - x, 0.0)
                    damp = min(1.0, excursion / (LEVEL_GATE * z_gate * std))
                    v_level = excursion / ((high - low) * level_margin) * damp
                    if v_level > v:
                        v, view, since = v_level, 2, ts[j]
            if (silence_gate > 0.0 or late_gap > 0.0) and seen[i] > 0:
                gap = ts[j] - last_ts[i]
                gap_history = trailing_max(gap_blocks[i])
                if silence_gate > 0.0 and warmed and seen[i] >= warmup:
                    v_silence = gap / max(2.0 * gap_history, silence_gate * gap_mean[i], min_std)
                    if v_silence > v:
                        v, view, since = v_silence, 3, last_ts[i]
                if gap > 2.0 * gap_history and seen[i] >= warmup:
                    gap = 2.0 * gap_history  # a dropout raises the bar at most twice, as an incident does
                gap_blocks[i, nblocks] = max(gap_blocks[i, nblocks], gap)
                gap_mean[i] += (gap - gap_mean[i]) * max(alpha, 1.0 / seen[i])
            if stuck_run > 0:
                repeats = run[i] + 1 if seen[i] > 0 and x == last_value[i] else 1
                run_history = trailing_max(run_blocks[i])
                if repeats == 1:
                    if seen[i] > 0:  # a run ended: learn its length (a stuck spell raises the bar at most twice)
                        ended = float(run[i])
                        if run_history > 0.0 and ended > max(2.0 * run_history, float(stuck_run)):
                            ended = 2.0 * run_history
                        run_blocks[i, nblocks] = max(run_blocks[i, nblocks], ended)
                    run_since[i] = ts[j]
                # Judged once the stream has changed value at least once: a signal constant from the start
                # may simply be constant.
                if warmed and seen[i] >= warmup and run_history > 0.0:
                    v_stuck = repeats / max(2.0 * run_history, float(stuck_run))
                    if v_stuck > v:
                        v, view, since = v_stuck, 4, run_since[i]
                run[i] = repeats
                last_value[i] = x
            if relation[j] > v:
                v, view, since = relation[j], 5, ts[j]
            score = v / (1.0 + v)
            anomalous = warmed and v > 1.0
        else:
            score = z / (z + threshold)
            anomalous = warmed and z > threshold
        was_open = is_open[i]
        opened = anomalous and not was_open
        if opened:
            start[i] = ts[j]
        if anomalous:
            peak[i] = max(peak[i], z_forecast)
            peak_score[i] = max(peak_score[i], score)
            incident_size[i] = max(incident_size[i], size)
        c = 0 if anomalous else calm[i] + 1
        closed = was_open and c >= quiet
        z_out[j], score_out[j], anomalous_out[j], opened_out[j], closed_out[j] = z_forecast, score, anomalous, opened, \
            closed
        start_out[j], peak_out[j], std_out[j], peak_score_out[j] = start[i], peak[i], forecast_std, peak_score[i]
        view_out[j], since_out[j], pattern_out[j], level_out[j] = view, since, v_pattern, v_level
        now_open = (was_open or opened) and not closed
        is_open[i] = now_open
        calm[i] = c if now_open else 0
        if not now_open:
            peak[i] = 0.0
            peak_score[i] = 0.0
            shown[i] = max(shown[i], incident_size[i])
            incident_size[i] = 0.0
        # Learn: clip what exceeded the threshold, Welford while warming up, then EWMA. (Not from a late
        # sample: its residual says nothing about the forecast's usual errors.)
        if not late:
            delta = r - mean[i]
            if warmed:
                limit = threshold * std
                delta = min(max(delta, -limit), limit)
            n = count[i] + 1
            weight = alpha if warmed else 1.0 / n
            mean[i] += weight * delta
            var[i] = (1.0 - weight) * (var[i] + weight * delta * delta)
            if seasonal_days:  # the forecast residual's own statistics, learned alike
                delta = residual[j] - forecast_mean[i]
                if warmed:
                    limit = threshold * forecast_std
                    delta = min(max(delta, -limit), limit)
                forecast_mean[i] += weight * delta
                forecast_var[i] = (1.0 - weight) * (forecast_var[i] + weight * delta * delta)
            count[i] = n
        # The trailing maxima of |residual| and the pattern distance; an incident raises them at most twice: the
        # residual's, twice the bar in force when the incident began (the trailing maximum or the tail floor, with
        # the margin; not twice per sample, which compounds in a burst), or in full up to what an earlier incident
        # showed (a repeat);
        # the pattern distance's, twice what it was before the sample (held at the onset too, NAB read 0.3 lower).
        if opened:
            bar[i] = bar_now
        if anomalous and novelty and history > 0.0:  # (what an earlier incident showed is learned in full: a repeat)
            size = min(size, max(2.0 * (bar[i] if bar[i] > 0.0 else history), shown[i]))
        elif forecast_across and bar_now > 0.0:  # (unjudged across a join: learned as an incident's would be)
            size = min(size, 2.0 * bar_now)
        if warmed and not late:
            blocks[i, nblocks] = max(blocks[i, nblocks], size)
            if novelty and tail_rate > 0.0:  # the current block's maximum; a full block's joins the fit (Welford)
                tail_max[i] = max(tail_max[i], size)
                tail_fill[i] += 1
                if tail_fill[i] >= tail_block:
                    tail_count[i] += 1
                    d = tail_max[i] - tail_mean[i]
                    tail_mean[i] += d / tail_count[i]
                    tail_m2[i] += d * (tail_max[i] - tail_mean[i])
                    tail_max[i], tail_fill[i] = 0.0, 0
        if distance >= 0.0:
            kept = long_seen[i] >= long_learned if stage else seen[i] + 1 >= short_learned
            learned = learn_distance(distance, record, distance_history, kept, distance_blocks[i, stage],
                                     distances[i], distance_mean[i], stage, alpha)
            if stage == 1 and long_seen[i] >= whole:  # searched over a whole memory: a distance the bar may keep
                whole_blocks[i, nblocks] = max(whole_blocks[i, nblocks], learned)
        if stage == 0 and long_distance >= 0.0:  # the long stage learns while the short one judges
            learn_distance(long_distance, record, trailing_max(distance_blocks[i, 1]),
                           long_seen[i] >= long_learned, distance_blocks[i, 1], distances[i], distance_mean[i], 1,
                           alpha)
        block_fill[i] += 1
        if block_fill[i] >= block:
            roll(blocks[i], 0.0)
            roll(distance_blocks[i, 0], 0.0)
            roll(distance_blocks[i, 1], 0.0)
            roll(whole_blocks[i], 0.0)
            roll(gap_blocks[i], 0.0)
            roll(run_blocks[i], 0.0)
            block_fill[i] = 0
        if novelty and length:  # (kept up in the long stage too, cheap: a checkpoint may send a stream back)
            segment_sum[i] += x
            seen[i] += 1
            if seen[i] % seg == 0:
                ring = segments.shape[1] - length // seg
                at = (seen[i] // seg - 1) % ring
                segments[i, at] = segment_sum[i] / seg
                if at < length // seg:  # the ring's head, repeated after its end
                    segments[i, ring + at] = segments[i, at]
                segment_sum[i] = 0.0
        elif novelty:
            seen[i] += 1
        last_ts[i] = ts[j]
        if seasonal_days and math.isfinite(x):
            slot = now_bin % season_bin.shape[1]
            if season_bin[i, slot] != now_bin:
                season_bin[i, slot], season_low[i, slot], season_high[i, slot] = now_bin, x, x
            else:
                season_low[i, slot] = min(season_low[i, slot], x)
                season_high[i, slot] = max(season_high[i, slot], x)
        if novelty and level_block:
            level_high[i, nblocks] = max(level_high[i, nblocks], x)
            level_low[i, nblocks] = min(level_low[i, nblocks], x)
            level_fill[i] += 1
            if level_fill[i] >= level_block:
                roll(level_high[i], -np.inf)
                roll(level_low[i], np.inf)
                level_fill[i] = 0
