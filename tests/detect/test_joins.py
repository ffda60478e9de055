"""A join (Detector.resume): a series whose later part is another recording is not judged across the boundary, and
the jump there does not set the bars."""

from __future__ import annotations

import numpy as np

from edge_lstm.detect.config import DetectorConfig
from edge_lstm.detect.detector import VIEWS, Detector

JOIN = 2012  # the second recording's first sample: the first ends near a crest, the second starts near a trough


def two_recordings(after: int = 1000, seed: int = 0) -> np.ndarray:
    """A noisy sine (period 50) whose second recording starts half a period out of phase: a jump of about 20 at
    ``JOIN``, where an ordinary step is under 2, and a sine wave broken mid-cycle."""
    rng = np.random.default_rng(seed)
    first, second = np.arange(JOIN), np.arange(JOIN, JOIN + after) + 25
    values = np.concatenate([10 * np.sin(2 * np.pi * first / 50), 10 * np.sin(2 * np.pi * second / 50)])
    return values + rng.normal(0, 0.3, values.size)


def opened(detector: Detector, values: np.ndarray) -> list[tuple[int, str]]:
    """Feed one stream (one sample a second, forecast = the last value); (index, view) of each incident opened."""
    found, idx = [], np.array([0])
    for t, v in enumerate(values):
        out = detector.update(idx, np.array([v]), np.array([values[max(0, t - 1)]]), np.array([float(t)]))
        if out.opened[0]:
            found.append((t, VIEWS[out.view[0]]))
    return found


def test_nothing_compared_across_a_join_is_judged():
    values = two_recordings()
    config = DetectorConfig()
    plain = opened(Detector(config), values)
    assert plain and plain[-1][0] == JOIN, f"read as one recording, the jump is an incident: {plain}"
    joined = Detector(config)
    joined.resume(np.array([0]), float(JOIN))
    assert [f for f in opened(joined, values) if f[0] >= JOIN] == []
    assert joined.resumed[0] == JOIN and np.isinf(joined.resume_ts[0])  # the join was taken, once


def test_the_jump_at_a_join_is_learned_as_an_incident_s_so_a_smaller_fault_after_it_is_still_found():
    values = two_recordings()
    values[JOIN + 300] += 15  # smaller than the jump at the join (about 20); learned in full, that would hide it
    joined = Detector(DetectorConfig())
    joined.resume(np.array([0]), float(JOIN))
    assert [f[0] for f in opened(joined, values) if f[0] >= JOIN] == [JOIN + 300]


def test_a_restarted_stream_forgets_a_join_not_yet_reached():
    detector = Detector(DetectorConfig(), capacity=2)
    detector.resume(np.array([0, 1]), 100.0)
    detector.reset(np.array([1]))
    assert detector.resume_ts.tolist() == [100.0, np.inf] and detector.resumed.tolist() == [-1, -1]
    detector.grow(4)
    assert np.isinf(detector.resume_ts[3]) and detector.resumed[3] == -1
