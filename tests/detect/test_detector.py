"""The detector as a whole: incidents, novelty, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from edge_lstm.detect.config import DetectorConfig
from edge_lstm.detect.detector import Detector


def test_detector_one_incident_per_burst_and_no_learning_from_it():
    d = Detector(DetectorConfig(warmup=50, threshold=5.0, quiet=5, mode="z"))
    idx = np.array([0, 1])
    rng = np.random.default_rng(0)
    opened = closed = 0
    for t in range(200):
        r = rng.normal(0, 0.1, 2)
        if 100 <= t < 110:
            r[0] += 5.0  # a burst of ten anomalous samples on stream 0
        out = d.update(idx, r, np.zeros(2), np.full(2, float(t)))
        opened += int(out.opened[0])
        closed += int(out.closed[0])
        assert not out.anomalous[1]
        if out.closed[0]:
            assert out.incident_start[0] == 100.0
    assert (opened, closed) == (1, 1)
    assert d.std(np.array([0]))[0] < 0.2, "the burst must not inflate the learned spread"


def test_novelty_ignores_a_recurring_error_and_flags_a_larger_one():
    """A forecast error the model makes every 100 samples is soon no news; a larger one is."""
    d = Detector(DetectorConfig(warmup=50, quiet=5, novelty_window=400, pattern_length=0, level_window=0))
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.1, 1000)
    r[np.arange(160, 1000, 100)] = 2.0  # the same error every 100 samples
    r[905] = 3.0  # one larger than any before
    starts = []
    for t, value in enumerate(r):
        out = d.update(np.array([0]), np.array([value]), np.zeros(1), np.array([float(t)]))
        if out.opened[0]:
            starts.append(t)
    # An incident raises the bar at most twofold: the recurring error is learned after a few occurrences.
    assert starts[0] == 160 and starts[-1] == 905
    assert all(t < 400 for t in starts[:-1]), f"the recurring error still raised incidents at {starts}"


def test_the_bar_remembers_the_stream_but_not_its_warm_up():
    """With the default memory an error learned stays known (a long stream's old records do not raise incidents
    again once forgotten), while the errors of the warm-up (from zero state) never enter the bar."""
    d = Detector(DetectorConfig(warmup=50, quiet=5, pattern_length=0, level_window=0))
    rng = np.random.default_rng(2)
    r = rng.normal(0, 0.1, 30_000)
    r[5] = 2.5  # a warm-up transient, beyond the error below
    r[[150, 250, 350, 450, 550, 20_000]] = 2.0  # the same error, a few times early and once late
    r[29_000] = 3.0  # a larger one
    starts = []
    for t, value in enumerate(r):
        out = d.update(np.array([0]), np.array([value]), np.zeros(1), np.array([float(t)]))
        if out.opened[0]:
            starts.append(t)
    assert starts[0] == 150 and starts[-1] == 29_000 and 20_000 not in starts, starts


def test_detector_is_deterministic():
    runs = []
    for _ in range(2):
        d = Detector(DetectorConfig(warmup=5))
        runs.append([d.update(np.array([0]), np.array([v]), np.array([0.1]), np.array([0.0])).score[0]
                     for v in np.sin(np.arange(500))])
    assert runs[0] == runs[1]


def test_a_record_of_ordinary_spikes_is_no_news_but_a_fault_is():
    """A stream with a spike of any size up to 1 in every 32 samples sets a new record now and then (the chance that a
    block beats n before it is 1 / (n + 1)): the forecast view's tail floor (``tail_rate``, a Gumbel fit to the block
    maxima) keeps most of those quiet and still finds a fault."""
    found = {0.0: 0, 1e-3: 0}
    for seed in range(3):
        rng = np.random.default_rng(seed)
        r = rng.normal(0, 0.05, 5000)
        spikes = np.arange(40, 5000, 32)
        r[spikes] += rng.uniform(0.0, 1.0, spikes.size)
        r[4500] = 3.0  # a fault
        for rate in found:
            d = Detector(DetectorConfig(warmup=50, quiet=5, pattern_length=0, level_window=0, tail_rate=rate))
            starts = []
            for t, value in enumerate(r):
                out = d.update(np.array([0]), np.array([value]), np.zeros(1), np.array([float(t)]))
                if out.opened[0]:
                    starts.append(t)
            assert starts[-1] == 4500, starts
            found[rate] += len(starts) - 1
    assert found[1e-3] < 0.6 * found[0.0], found


def test_the_tail_floor_over_few_block_maxima_is_raised_by_its_standard_error():
    """``tail_confidence`` standard errors of the Gumbel quantile's moment estimate are added to the floor: a
    young stream's fit, over few block maxima, sets a higher bar; the excess shrinks as 1 / sqrt(blocks)."""
    from edge_lstm.detect.step import tail_floor

    excess = []
    for count in (10, 40, 160):  # block maxima of mean 5 and spread 1
        estimate = tail_floor(count, 5.0, float(count - 1), 1e-3, 32, 0.0)
        assert estimate == pytest.approx(5.0 + (np.log(1000 / 32) - 0.5772156649015329) * np.sqrt(6) / np.pi)
        excess.append(tail_floor(count, 5.0, float(count - 1), 1e-3, 32, 1.0) - estimate)
    assert excess[0] > 0.5 and np.allclose([excess[0] / excess[1], excess[1] / excess[2]], 2.0)


def test_a_long_stream_s_forecast_record_is_news_only_past_the_margin():
    """Past ``forecast_margin_after`` values a residual must beat the bar by ``forecast_margin``; before, any
    record. Apart from the pattern view's long stage: turning that off (to save memory) keeps the margin."""
    rng = np.random.default_rng(4)
    base = dict(pattern_length=0, level_window=0, silence_gate=0, stuck_run=0, tail_rate=0.0, z_gate=0.01,
                forecast_margin_after=400, pattern_long_memory=0)

    def opened(margin: float, at: int, factor: float) -> bool:
        d = Detector(DetectorConfig(forecast_margin=margin, **base))
        residuals = rng.uniform(-1.0, 1.0, 600)
        bar = np.abs(residuals[50:at]).max()  # the forecast view's bar: every residual past the warm-up (50)
        residuals[at] = factor * bar
        found = False
        for t, r in enumerate(residuals[: at + 1]):
            out = d.update(np.array([0]), np.array([r]), np.array([0.0]), np.array([float(t)]))
            found = found or (t == at and bool(out.opened[0]))
        return found

    assert opened(0.0, 500, 1.05) and not opened(0.1, 500, 1.05), "a long stream: 5% past the bar is no news"
    assert opened(0.1, 500, 1.2), "20% past it is"
    assert opened(0.1, 300, 1.05), "a young stream: any record is news"
