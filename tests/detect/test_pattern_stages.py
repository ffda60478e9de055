"""The pattern view's long stage: every value compared over a long memory, once a stream has seen that much."""

from __future__ import annotations

import numpy as np
import pytest

from edge_lstm.detect.config import DetectorConfig
from edge_lstm.detect.detector import Detector
from edge_lstm.detect.measures import lagged_distance, push_value
from tests.detect.test_detector_views import run


def brute_force(x: np.ndarray, t: int, length: int, memory: int) -> float:
    """RMS difference from the window ending at ``t`` to its nearest non-overlapping one ending within ``memory``."""
    query = x[t - length + 1 : t + 1]
    sums = [np.mean((query - x[t - lag - length + 1 : t - lag + 1]) ** 2)
            for lag in range(length, memory + 1) if t - lag - length + 1 >= 0]
    return float(np.sqrt(min(sums))) if sums else -1.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lagged_distance_equals_brute_force_and_recovers_from_a_huge_spike(dtype):
    """Exact in float64 over the values as stored (the detector stores float32: its sums stay float64)."""
    rng = np.random.default_rng(1)
    length, memory = 16, 100
    x = np.cumsum(rng.standard_normal(2000))
    x[1200] = 1e9  # its square swamps every sum it enters: rounding left behind is summed away by the refresh
    x = x.astype(dtype).astype(np.float64)  # what the ring holds
    values, lags = np.zeros(memory + length + 1, dtype), np.zeros(memory + 1)
    for t in range(x.size):
        push_value(values, t, x[t])
        got = lagged_distance(values, lags, t + 1, length)
        if 1200 <= t < 1200 + 2 * memory + length:
            continue  # within a memory of the spike: close only up to the spike's rounding
        want = brute_force(x, t, length, memory)
        assert (got == want == -1.0) or abs(got - want) <= 1e-9 * max(want, 1.0), (t, got, want)
    assert lagged_distance(values, lags, x.size, length) >= 0.0


def ripple_series(n: int, at: int) -> np.ndarray:
    """A noisy cycle of 40 samples; from ``at``, 48 samples with a fast ripple (4 samples a period) added, which a
    mean over 8 samples cancels."""
    rng = np.random.default_rng(5)
    t = np.arange(n)
    x = np.sin(2 * np.pi * t / 40) + 0.02 * rng.standard_normal(n)
    x[at : at + 48] += 0.3 * np.array([1.0, 0.0, -1.0, 0.0] * 12)
    return x


def test_the_long_stage_finds_a_shape_that_segment_means_hide():
    x = ripple_series(9000, at=7000)
    perfect = x.copy()  # a forecast that follows every value: only the pattern view can see anything
    config = dict(pattern_length=64, pattern_segment=8, pattern_memory=1200, level_window=0, silence_gate=0,
                  stuck_run=0)
    found = [f for f in run(Detector(DetectorConfig(pattern_long_memory=2400, **config)), x, perfect)
             if f[0] >= 1000]
    assert [f[1] for f in found] == ["pattern"] and 7000 <= found[0][0] < 7048, found
    short_only = [f for f in run(Detector(DetectorConfig(pattern_long_memory=0, **config)), x, perfect)
                  if f[0] >= 1000]
    assert short_only == [], "segment means of 8 cancel a 4-sample ripple"


def test_the_long_stage_starts_judging_with_a_bar_learned_over_half_its_memory_no_burst_of_records():
    rng = np.random.default_rng(2)
    t = np.arange(12_000)
    x = np.sin(2 * np.pi * t / 50) + 0.1 * rng.standard_normal(t.size)  # nothing but noise on a steady cycle
    config = DetectorConfig(pattern_long_memory=4800, level_window=0, silence_gate=0, stuck_run=0)
    d = Detector(config)
    found = run(d, x, x)
    assert [f for f in found if f[0] >= 4000] == [], found
    assert d.long_seen[0] == x.size and d.distances[0, 1] > 0
    assert d.values.shape[1] == 4800 + 64 + 1 and d.lags.shape[1] == 4801


def test_the_short_stage_judges_once_its_bar_has_learned_a_warm_up_of_distances():
    """A daily square wave whose first edge after the short stage starts learning (half its memory, 600 values)
    comes 6 samples later: with a bar of 6 distances that edge would be a record. It is learned, not reported;
    a day at half height later is still found."""
    period, days = 288, 8
    phase = np.arange(period * days) % period
    x = np.where((phase >= 30) & (phase < 130), 80.0, 20.0) + np.random.default_rng(0).normal(0, 0.1, phase.size)
    x[6 * period + 30 : 6 * period + 130] = 50.0  # day 6 at half height
    config = DetectorConfig(pattern_memory=1200, level_window=0, silence_gate=0, stuck_run=0,
                            pattern_long_memory=0)
    assert 600 <= 2 * period + 30 < 600 + config.warmup
    found = [f for f in run(Detector(config), x, x) if f[1] == "pattern"]
    assert [f[0] for f in found if f[0] < 6 * period] == [], found
    assert any(6 * period + 30 <= f[0] < 6 * period + 130 for f in found), found


def test_the_long_stage_bar_forgets_distances_searched_over_less_than_a_whole_memory():
    """A ripple while the long stage learns but its memory is not yet whole (at 1,600 of 2,400) sets the bar of the
    old rule for good; once half a memory of distances was searched over a whole memory, the bar is theirs alone,
    so a ripple at half the height later is found. Without that later ripple nothing is found at all."""
    t = np.arange(7000)
    base = np.sin(2 * np.pi * t / 40) + 0.02 * np.random.default_rng(3).standard_normal(t.size)
    ripple = np.array([1.0, 0.0, -1.0, 0.0] * 12)  # only the long stage sees it: segment means of 8 cancel it
    config = DetectorConfig(pattern_memory=600, pattern_long_memory=2400, level_window=0, silence_gate=0,
                            stuck_run=0)
    early = base.copy()
    early[1600:1648] += 0.6 * ripple
    later = early.copy()
    later[6000:6048] += 0.3 * ripple
    memory, length = config.pattern_long_memory, config.pattern_length
    assert memory // 2 <= 1600 < memory + length and 6000 > memory + length + 1 + memory // 2
    assert run(Detector(config), early, early) == []
    found = run(Detector(config), later, later)
    assert [(f[0], f[1]) for f in found] == [(6000, "pattern")], found
