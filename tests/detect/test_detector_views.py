"""The detector's pattern and level views: what they find, what they ignore, and their bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from edge_lstm.detect.config import DetectorConfig
from edge_lstm.detect.detector import VIEWS, Detector
from edge_lstm.detect.measures import pattern_distance
from edge_lstm.detect.operating import OperatingChanges
from edge_lstm.detect.step import tail_floor
from tests.detect.test_operating import event

PERIOD = 96


def daily(days: int, seed: int = 0) -> np.ndarray:
    """A square 'day' (low night, high day) with noise, ``PERIOD`` samples a day."""
    rng = np.random.default_rng(seed)
    phase = np.arange(days * PERIOD) % PERIOD
    return np.where((phase >= 30) & (phase < 70), 80.0, 20.0) + rng.normal(0, 1.0, days * PERIOD)


def run(detector: Detector, values: np.ndarray, expected: np.ndarray, every_s: float = 1.0
        ) -> list[tuple[int, str, float]]:
    """Feed one stream sample by sample, ``every_s`` apart; return (index, view, since) of each incident opened."""
    opened = []
    idx = np.array([0])
    for t, (v, e) in enumerate(zip(values, expected, strict=True)):
        out = detector.update(idx, np.array([v]), np.array([e]), np.array([t * every_s]))
        if out.opened[0]:
            opened.append((t, VIEWS[out.view[0]], float(out.since[0])))
    return opened


def last_value(values: np.ndarray) -> np.ndarray:
    return np.concatenate([[values[0]], values[:-1]])


def test_pattern_view_finds_a_day_without_its_peak_that_the_forecast_follows():
    values = daily(30)
    skipped = 25 * PERIOD
    values[skipped + 30 : skipped + 70] = 20.0 + np.random.default_rng(1).normal(0, 1.0, 40)  # no day: all night
    # A pattern longer than a night (56 samples): a window that flat is never seen on an ordinary day.
    config = DetectorConfig(pattern_length=64, pattern_segment=8, pattern_memory=6 * PERIOD, level_window=0)
    found = run(Detector(config), values, last_value(values))
    patterns = [f for f in found if f[1] == "pattern" and f[0] >= 3 * PERIOD]  # past the warm-up days
    assert len(patterns) == 1, f"expected one pattern incident, on the day without its peak: {found}"
    t, _, since = patterns[0]
    assert skipped + 30 <= t < skipped + 40, "found within ten samples of the missing rise"
    assert since == t - 63  # the novel pattern's first sample
    # The same series with the pattern view off: the one-step forecast follows the flat day silently.
    plain = run(Detector(DetectorConfig(pattern_length=0, level_window=0)), values, last_value(values))
    assert not [f for f in plain if skipped + 30 <= f[0] < skipped + 70]
    # With the seasonal memory (a PERIOD-sample day: 15-minute samples), which quiets the pattern view for values
    # seen at this time of day lately: night values in the daytime are not, and the missing peak is still found.
    seasonal = DetectorConfig(pattern_length=64, pattern_segment=8, pattern_memory=6 * PERIOD, level_window=0,
                              seasonal_days=3, seasonal_bin_s=900.0)
    found = run(Detector(seasonal), values, last_value(values), every_s=86400 / PERIOD)
    assert len([f for f in found if skipped + 30 <= f[0] < skipped + 40]) == 1, found


def test_level_view_flags_a_value_beyond_the_trailing_range_by_the_margin_only():
    rng = np.random.default_rng(3)
    values = rng.uniform(0.0, 10.0, 3000)
    values[2000] = 10.5  # 5% of the range above it: inside the margin (10%)
    values[2500] = 12.0  # 20% above it
    config = DetectorConfig(pattern_length=0, level_window=1000, level_margin=0.1, silence_gate=0, stuck_run=0)
    forecast = values + rng.normal(0.0, 0.1, values.size)  # a good forecast: residual spread 0.1
    found = run(Detector(config), values, forecast)
    assert [(t, view) for t, view, _ in found if t >= 100] == [(2500, "level")]
    # The same excursion (2.0) when the residuals spread ~2.9: under z_gate / 4 of them, no news.
    assert [f for f in run(Detector(config), values, np.full(values.size, 5.0)) if f[0] >= 100] == []


def test_pattern_distance_equals_brute_force_over_the_stored_segments():
    rng = np.random.default_rng(7)
    length, seg, memory = 16, 4, 80
    d = Detector(DetectorConfig(pattern_length=length, pattern_segment=seg, pattern_memory=memory, warmup=5))
    values = rng.normal(size=400)
    for t, v in enumerate(values):
        d.update(np.array([0]), np.array([v]), np.array([0.0]), np.array([float(t)]))
        seen = t + 1
        got = pattern_distance(d.recent[0], d.segments[0], seen, length, seg, np.empty(length // seg))
        means = values[: seen // seg * seg].reshape(-1, seg).mean(axis=1)
        query = values[seen - length : seen].reshape(-1, seg).mean(axis=1) if seen >= length else None
        ring = memory // seg + length // seg
        first = max(0, seen // seg - ring)
        starts = [s for s in range(first, len(means)) if (s + length // seg) * seg <= seen - length]
        if not starts:
            assert got == -1.0
            continue
        want = min(np.sqrt(np.mean((query - means[s : s + length // seg]) ** 2)) for s in starts)
        assert np.isclose(got, want), (t, got, want)
    assert d.segments.shape == (16, ring + length // seg), "memory per stream: the segment ring, not the history"


def test_views_restart_with_the_stream_and_grow_with_the_bank():
    d = Detector(DetectorConfig(), capacity=2)
    values = daily(3)
    for t, v in enumerate(values):
        d.update(np.array([0, 1]), np.array([v, v]), np.array([v, v]), np.array([float(t)] * 2))
    d.grow(4)
    assert np.isneginf(d.level_high[2:]).all() and np.isposinf(d.level_low[2:]).all()
    d.reset(np.array([0]))
    assert d.seen[0] == 0 and d.long_seen[0] == 0 and not d.distances[0].any() and np.isneginf(d.level_high[0]).all()
    assert d.seen[1] == values.size


def pattern_event(stream: str, start: float, since: float):
    return event(stream, start, view="pattern", since=since)


def test_a_novel_pattern_is_an_operating_change_only_when_the_load_s_pattern_is_novel_too():
    f = OperatingChanges("current", within_s=5)
    f.moved("m", "current", 100.0)  # a load step the current's pattern has seen before (a z move only)
    f.moved("m", "vibration", 101.0)
    f.novel_pattern("m", "current", 500.0)  # the machine enters a state unlike its recent ones
    f.novel_pattern("m", "vibration", 800.0)
    f.offer([pattern_event("m/vibration", 160.0, since=97.0),  # worn: unlike before at a familiar load
             pattern_event("m/vibration", 520.0, since=457.0),  # inside the novel state's span
             pattern_event("m/current", 820.0, since=757.0),  # the load's own novelty, vibration novel too
             pattern_event("m/current", 1200.0, since=1137.0)])  # the load's own novelty alone: its sensor
    released = f.advance({"m": 2000.0})
    assert [(e.stream, e.start) for e in released] == [("m/vibration", 160.0), ("m/current", 1200.0)]
    assert f.counters["suppressed"] == 2


def test_silence_view_flags_a_dropout_but_not_a_stream_that_often_skips():
    rng = np.random.default_rng(5)
    config = DetectorConfig(pattern_length=0, level_window=0)

    def incidents(ts: np.ndarray) -> list[tuple[float, str, float]]:
        d, found = Detector(config), []
        for t in ts:
            v = rng.normal()
            out = d.update(np.array([0]), np.array([v]), np.array([v]), np.array([t]))
            if out.opened[0]:
                found.append((t, VIEWS[out.view[0]], float(out.since[0])))
        return found

    steady = np.arange(4000.0)
    dropout = np.concatenate([steady[:3000], steady[3300:]])  # five minutes without a sample at 1 Hz
    assert incidents(steady) == []
    assert incidents(dropout) == [(3300.0, "silence", 2999.0)]
    # Gaps of up to 20 minutes every so often on a 1-minute stream: the longest lately is the bar.
    gaps = np.cumsum(np.where(rng.uniform(size=3000) < 0.05, rng.uniform(60, 1200, 3000), 60.0))
    assert [f for f in incidents(gaps) if f[0] > gaps[300]] == []


def test_novel_patterns_are_forgotten_like_moves():
    f = OperatingChanges("current", within_s=5)
    for t in range(1000):
        f.novel_pattern("quiet-device", "vibration", float(t))  # never a move, never an incident
    f.advance({"quiet-device": 2000.0})
    assert f.novel["quiet-device"] == [], "a device's old novel patterns must not pile up"


def test_stuck_view_flags_a_reading_that_stops_changing_but_not_a_constant_or_coarse_signal():
    rng = np.random.default_rng(9)
    config = DetectorConfig(pattern_length=0, level_window=0, silence_gate=0)

    def opened(values: np.ndarray) -> list[tuple[int, str, float]]:
        d = Detector(config)
        found = []
        for t, v in enumerate(values):
            out = d.update(np.array([0]), np.array([v]), np.array([v]), np.array([float(t)]))
            if out.opened[0]:
                found.append((t, VIEWS[out.view[0]], float(out.since[0])))
        return found

    adc = np.round(rng.normal(5.0, 0.12, 3000) / 0.0147) * 0.0147  # noise over a few ADC steps
    stuck = adc.copy()
    stuck[2000:2300] = stuck[2000]
    assert opened(adc) == []
    assert opened(stuck) == [(2010, "stuck", 2000.0)]  # the run's 11th sample; since: its first
    assert opened(np.full(3000, 3.0)) == [], "a signal constant from the start may just be constant"
    coarse = rng.integers(0, 3, 3000).astype(float)  # a counter that often repeats: long runs are usual
    assert opened(coarse) == []


def test_while_the_load_sensor_is_faulty_most_other_channels_moving_together_are_a_load_change():
    f = OperatingChanges("current", within_s=5)
    for device, channel in [("m", "current"), ("m", "vibration"), ("m", "temperature"), ("p", "current"),
                            ("p", "pressure"), ("p", "flow"), ("p", "vibration"), ("p", "temperature")]:
        f.add_channel(device, channel)
    f.offer([event("m/current", 100.0), event("p/current", 100.0)])  # both load sensors stuck
    assert sorted(e.stream for e in f.advance({"m": 106.0, "p": 106.0})) == ["m/current", "p/current"]
    f.moved("m", "vibration", 300.0)  # the motor's load steps: both of its other channels move
    f.moved("p", "flow", 300.0)  # the pump: pressure and flow only (cavitation), not all four
    f.offer([event("m/temperature", 301.0), event("p/pressure", 301.0), event("m/temperature", 600.0)])
    released = f.advance({"m": 1000.0, "p": 1000.0})
    assert sorted((e.stream, e.start) for e in released) == [("m/temperature", 600.0),
                                                                     ("p/pressure", 301.0)]
    f.offer([event("m/current", 100.0, "closed", 700.0)])
    f.moved("m", "vibration", 901.0)
    f.offer([event("m/temperature", 900.0)])
    assert [e.stream for e in f.advance({"m": 2000.0})] == ["m/temperature"], "after the sensor recovered"


def test_every_view_judges_a_stream_the_same_in_any_units():
    """An affine change of units (°C to °F, volts to millivolts, a negative offset) changes no decision."""
    rng = np.random.default_rng(11)
    values = np.round(daily(20, seed=4) * 4) / 4  # quantised, so the stuck view has runs to count
    values[15 * PERIOD : 15 * PERIOD + 40] = values[15 * PERIOD]  # stuck
    values[17 * PERIOD + 50] += 60.0  # a spike above every level seen
    ts = np.cumsum(np.where(rng.uniform(size=values.size) < 0.002, 600.0, 60.0))  # with a few silences

    def decisions(a: float, b: float) -> list[tuple[int, str]]:
        x = a * values + b
        d = Detector(DetectorConfig(pattern_length=32, pattern_segment=4, pattern_memory=6 * PERIOD))
        out = d.update(np.zeros(x.size, np.int64), x, np.concatenate([[x[0]], x[:-1]]), ts)
        return [(int(t), VIEWS[out.view[t]]) for t in np.flatnonzero(out.opened)]

    reference = decisions(1.0, 0.0)
    assert {"level", "stuck"} <= {view for _, view in reference}, reference
    assert decisions(1.8, 32.0) == reference
    assert decisions(0.001, -70.0) == reference


def test_a_sample_after_a_long_gap_is_neither_judged_nor_learned_by_the_forecast_view():
    """Its one-step forecast was made for a sample due long before: a large residual there is no news,
    and must not raise the bar for the next real surprise (NAB's traffic files: +3.6 points)."""
    rng = np.random.default_rng(8)
    ts = np.arange(2000) * 60.0
    ts[1000:] += 7200.0  # two hours without a sample, on a one-minute stream
    residual = rng.normal(0.0, 1.0, ts.size)
    residual[1000] = 30.0  # the forecast spanned the gap
    residual[1500] = 5.5  # a real surprise: well beyond the noise (its trailing maximum ~3.5), under twice it
    base = dict(pattern_length=0, level_window=0, silence_gate=0, stuck_run=0, z_gate=4.0)

    def opened(config: DetectorConfig) -> list[int]:
        out = Detector(config).update(np.zeros(ts.size, np.int64), residual, np.zeros(ts.size), ts)
        return np.flatnonzero(out.opened).tolist()

    assert opened(DetectorConfig(**base)) == [1500]
    # Judged: an incident, and its residual (entering the history capped at twice the maximum) hides the surprise.
    assert opened(DetectorConfig(**base, late_gap=0)) == [1000]


FORECAST_ONLY = dict(pattern_length=0, level_window=0, silence_gate=0, stuck_run=0, z_gate=4.0)


def test_a_burst_raises_the_forecast_views_bar_at_most_twice_its_level_before_the_burst():
    """Each residual of an incident enters the trailing maximum at most at twice the bar in force when the incident
    began (the trailing maximum or the tail floor, whichever is higher: here the floor), not twice the maximum of the
    sample before (which compounds: a 10-sample burst could raise it 1,000x and hide every later fault for a whole
    window)."""
    rng = np.random.default_rng(3)
    n = 2000
    residual = rng.normal(0.0, 1.0, n)
    residual[1000:1010] = 1000.0  # a burst: one incident
    residual[1500] = 20.0  # a later fault: far beyond the noise (trailing maximum ~3.5), far under the burst
    detector = Detector(DetectorConfig(**FORECAST_ONLY))
    before = detector.update(np.zeros(1000, np.int64), residual[:1000], np.zeros(1000), np.arange(1000.0))
    assert not before.opened[100:].any()
    cfg = detector.config
    floor = tail_floor(detector.tail_count[0], detector.tail_mean[0], detector.tail_m2[0], cfg.tail_rate,
                       cfg.tail_block, cfg.tail_confidence)
    assert floor > detector.blocks[0].max()
    bar = floor
    burst = detector.update(np.zeros(10, np.int64), residual[1000:1010], np.zeros(10), np.arange(1000.0, 1010.0))
    assert burst.opened[0] and burst.anomalous.all()
    assert detector.blocks[0].max() == pytest.approx(2.0 * bar)
    rest = detector.update(np.zeros(n - 1010, np.int64), residual[1010:], np.zeros(n - 1010),
                           np.arange(1010.0, n))
    assert (np.flatnonzero(rest.opened) + 1010).tolist() == [1500]


def test_a_spike_the_stream_repeats_is_news_twice_but_not_a_third_time():
    """An incident's residuals raise the forecast view's bar at most twice, but what an earlier incident showed is
    learned in full when it comes again: a spike ten times the noise's largest is an incident, and its first repeat
    (the bar held at twice its level by the first), but not a third time; a larger one later still is."""
    rng = np.random.default_rng(8)
    residual = rng.normal(0.0, 1.0, 3000)
    for at in (1000, 1500, 2000):
        residual[at] = 40.0
    residual[2500] = 90.0
    detector = Detector(DetectorConfig(**FORECAST_ONLY))
    out = detector.update(np.zeros(3000, np.int64), residual, np.zeros(3000), np.arange(3000.0))
    assert not out.opened[100:1000].any()
    assert (np.flatnonzero(out.opened[1000:]) + 1000).tolist() == [1000, 1500, 2500]


def daily_spikes(days: int, spike_at: list[int], every_s: float = 300.0) -> tuple[np.ndarray, np.ndarray]:
    """(times, values): 5-minute noise around 1 with a spike of 10 at sample ``spike_at`` of every day
    (``PER_DAY`` samples a day), from midnight."""
    per_day = int(86400 / every_s)
    rng = np.random.default_rng(5)
    values = 1.0 + rng.normal(0.0, 0.1, days * per_day)
    for day in range(days):
        for at in spike_at:
            values[day * per_day + at] = 10.0 + day * 0.1  # a little higher every day: a new trailing maximum
    return np.arange(values.size) * every_s, values


def opened_at(config: DetectorConfig, times: np.ndarray, values: np.ndarray) -> list[int]:
    d = Detector(config)
    out = d.update(np.zeros(values.size, np.int64), values, np.ones_like(values), times)
    return np.flatnonzero(out.opened).tolist()


def test_seasonal_memory_expects_what_each_day_does_at_this_time_but_not_at_another():
    times, values = daily_spikes(6, [144])  # noon, every day
    per_day = 288
    # Without the memory the forecast view (a forecast that never expects a spike) flags each day's spike
    # that beats the ones before it; with it, a spike at the time of yesterday's spikes is expected.
    plain = opened_at(DetectorConfig(**FORECAST_ONLY), times, values)
    assert [t % per_day for t in plain if t >= per_day] and all(t % per_day == 144 for t in plain if t >= per_day)
    seasonal = DetectorConfig(**FORECAST_ONLY, seasonal_days=3, seasonal_width_s=1800.0)
    assert [t for t in opened_at(seasonal, times, values) if t >= per_day + 1] == []
    # A smaller spike at 3 a.m. on day 5: nothing like it at that time on the days before.
    odd = values.copy()
    odd[4 * per_day + 36] = 6.0
    assert 4 * per_day + 36 in opened_at(seasonal, times, odd)
    # The day's spike 25 minutes early is within seasonal_width_s (30 min) of noon: expected; an hour early, not.
    early, earlier = values.copy(), values.copy()
    early[4 * per_day + 144], early[4 * per_day + 139] = 1.0, 10.0
    earlier[4 * per_day + 144], earlier[4 * per_day + 132] = 1.0, 10.0
    assert [t for t in opened_at(seasonal, times, early) if t >= per_day + 1] == []
    assert 4 * per_day + 132 in opened_at(seasonal, times, earlier)


def test_seasonal_memory_is_per_stream_outlives_a_restart_and_is_validated():
    config = DetectorConfig(seasonal_days=2, seasonal_width_s=600.0, seasonal_bin_s=300.0)
    assert config.seasonal_bins == 2 * 288 + 2 + 1
    d = Detector(config, capacity=2)
    d.update(np.array([0, 1]), np.array([5.0, 7.0]), np.array([5.0, 7.0]), np.array([600.0, 600.0]))
    assert d.season_low[0, 2] == 5.0 and d.season_high[1, 2] == 7.0 and d.season_bin[0, 2] == 2
    d.reset(np.array([0]))  # a gap: the stream warms up again, but the days it saw stay what they were
    assert d.count[0] == 0 and d.season_bin[0, 2] == 2 and d.season_low[0, 2] == 5.0
    d.grow(3)
    assert np.isposinf(d.season_low[2]).all() and d.season_bin[2].max() == -1
    assert Detector(DetectorConfig()).season_low.shape == (16, 1)  # off: no memory kept
    for bad in (dict(seasonal_days=-1), dict(seasonal_days=1, seasonal_bin_s=7.0),
                dict(seasonal_days=1, seasonal_width_s=-1.0)):
        with pytest.raises(ValueError, match="seasonal_"):
            DetectorConfig(**bad)


def test_with_the_seasonal_memory_the_reported_spread_is_still_the_forecast_s():
    """The forecast intervals scale with the detector's residual spread, and severity and the engine's "channel
    moving" read its z: both must stay the forecast's own even where the seasonal memory explains most of each
    residual."""
    times, values = daily_spikes(4, [144])
    plain, seasonal = Detector(DetectorConfig(**FORECAST_ONLY)), Detector(DetectorConfig(**FORECAST_ONLY,
                                                                                           seasonal_days=3))
    idx = np.zeros(values.size, np.int64)
    a = plain.update(idx, values, np.ones_like(values), times)
    b = seasonal.update(idx, values, np.ones_like(values), times)
    np.testing.assert_allclose(b.expected_std, a.expected_std)
    np.testing.assert_allclose(b.z, a.z)  # and the z reported (severity, a channel moving): the forecast's
    assert b.incident_peak_z[b.anomalous].max() <= a.z.max()
    np.testing.assert_allclose(seasonal.std(np.array([0])), plain.std(np.array([0])))
    assert seasonal.var[0] < 0.5 * plain.var[0]  # the view's own residual: mostly explained


def test_with_the_seasonal_memory_the_pattern_view_leaves_values_seen_at_this_time_of_day_alone():
    """A ramp in a signal that flips between 0 and 10 at every sample: a novel shape (the pattern view alarms
    without the memory) made only of values inside the range seen around this time of day lately."""
    every_s, per_day = 900.0, 96
    values = np.where(np.arange(8 * per_day) % 2, 10.0, 0.0)
    ramp = 6 * per_day + 40
    values[ramp : ramp + 64] = np.linspace(3.0, 7.0, 64)
    config = dict(pattern_length=64, pattern_segment=8, pattern_memory=4 * per_day, level_window=0, stuck_run=0,
                  silence_gate=0, seasonal_bin_s=1800.0)  # two samples a bin: each holds [0, 10]
    def patterns(seasonal_days: int) -> list[int]:
        found = run(Detector(DetectorConfig(**config, seasonal_days=seasonal_days)), values, last_value(values),
                    every_s)
        return [t for t, view, _ in found if view == "pattern" and ramp <= t < ramp + 80]
    assert patterns(0), "the ramp is a novel pattern"
    assert patterns(3) == []
