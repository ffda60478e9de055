"""The engine's settings (the daemon's ``[forecast]`` and ``[input]`` tables fill them: edge_lstm.serve.config)."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_lstm.detect.config import DetectorConfig


@dataclass(frozen=True)
class EngineConfig:
    target_feature: int = 0  # which input feature the forecast predicts
    forecast_every: int = 10  # publish a forecast every N samples of a stream (0: never)
    interval_z: float = 1.96  # forecast bounds cover what ± interval_z covers of a normal (learned: intervals.py)
    # The last value is forecast instead while the model's recent squared errors exceed this times the last
    # value's (edge_lstm.forecast.fallback: a model that lost track of a stream outside its training range); 0: off
    fallback: float = 1.0
    fallback_alpha: float = 0.02  # weight of a new error in those averages
    gap_s: float = 3600.0  # a longer silence resets the stream (state and detector warm up again)
    # This many samples in a row stamped more than gap_s before a stream's last one mean its clock was reset (a
    # device rebooting to 1970, or one bogus future stamp before): the stream restarts from them. 0: they are
    # dropped as stale, which silences the stream until its clock passes the old time again.
    clock_reset: int = 5
    standardise: int = 0  # scale each stream by the mean and std of its first N samples (0: off)
    # The model sees each sample's change from the one before, over the spread of the changes in the first
    # ``standardise`` samples, and forecasts the change ahead (edge-lstm train --difference; the bundle says)
    difference: bool = False
    settle: int = -1  # samples after a (re)start not scored (the LSTM state settling); -1: the model's window, or
    # SETTLE for a model of any length (edge-lstm train's)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
