"""The NAB scorer on hand-made cases whose answers follow from the whitepaper's definitions."""

import math

import numpy as np
import pytest

from edge_lstm.evaluate.nab import PROFILES, corpus_score, point_weights, scaled_sigmoid

TS = np.arange(200)
WINDOW = [(100, 109)]  # ten points, well after the probationary period (first 30 points)


def _score(points: dict[int, float], profile: str = "standard", windows=WINDOW, threshold=None):
    scores = np.zeros(len(TS))
    for i, v in points.items():
        scores[i] = v
    return corpus_score({"f": (TS, scores, windows)}, profile, threshold)


def test_sigmoid_anchor_points():
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(3.0) == -1.0


def test_null_and_perfect():
    assert _score({})["score"] == pytest.approx(0.0)
    assert _score({100: 1.0})["score"] == pytest.approx(100.0)


def test_late_detection_scores_less():
    # Last point of a 10-point window: y = -1/10.
    expected_raw = scaled_sigmoid(-0.1) / scaled_sigmoid(-1.0)
    result = _score({109: 1.0})
    assert result["raw"] == pytest.approx(expected_raw)
    assert result["score"] == pytest.approx(100 * (expected_raw + 1) / 2)


def test_only_the_best_detection_in_a_window_counts():
    assert _score({100: 1.0, 105: 1.0, 109: 1.0})["raw"] == pytest.approx(1.0)


def test_false_positive_far_from_windows_costs_the_fp_weight():
    # Before any window: -A_FP; the optimiser still prefers detecting both (0.89 > -1).
    result = _score({50: 0.9, 100: 0.8})
    assert result["raw"] == pytest.approx(1.0 - 0.11) and result["threshold"] == 0.8
    assert result["score"] == pytest.approx(100 * (0.89 + 1) / 2)
    # At a fixed threshold that only catches the false positive: missed window and the FP.
    assert _score({50: 0.9, 100: 0.8}, threshold=0.9)["raw"] == pytest.approx(-1.11)


def test_false_positive_just_after_a_window_costs_little():
    weight, window_of = point_weights(200, WINDOW, PROFILES["standard"])
    assert window_of[110] == -1
    assert weight[110] == pytest.approx(0.11 * scaled_sigmoid(1 / 9))
    assert -0.11 < weight[110] < -0.02 and weight[199] == pytest.approx(-0.11)


def test_probationary_detections_are_ignored():
    assert _score({5: 1.0, 100: 0.5})["raw"] == pytest.approx(1.0)


@pytest.mark.parametrize(("profile", "fn", "fp"),
                         [("reward_low_FN_rate", 2.0, 0.11), ("reward_low_FP_rate", 1.0, 0.22)])
def test_profiles(profile, fn, fp):
    missed = _score({150: 1.0}, profile, threshold=1.0)
    # The FP at 150 is 40 points past a window of width 10: beyond y = 3, so it costs the full weight.
    assert missed["raw"] == pytest.approx(-fn - fp)
    assert missed["null"] == -fn and missed["perfect"] == 1.0


def test_windows_given_as_timestamps_and_many_files():
    stamps = np.arange(1_000_000, 1_000_200)
    files = {
        "a": (stamps, np.where(stamps == 1_000_100, 1.0, 0.0), [(1_000_100, 1_000_109)]),
        "b": (stamps, np.zeros(200), [(1_000_120, 1_000_129)]),
    }
    result = corpus_score(files, "standard")
    assert result["windows"] == 2 and result["raw"] == pytest.approx(0.0)
    assert math.isclose(result["score"], 50.0)
