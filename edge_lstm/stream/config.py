"""The engine's settings: each field's default, help and bounds in one place (the daemon's ``[forecast]`` and
``[input]`` tables are derived from them: :mod:`edge_lstm.serve.config`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_lstm.detect.config import DetectorConfig
from edge_lstm.detect.operating import OperatingConfig
from edge_lstm.detect.relations import RelationConfig
from edge_lstm.settings import non_negative, positive, setting, unit_interval


def _settle(v: int) -> str | None:
    return None if v >= -1 else "must be -1 (the model's window) or a count"


@dataclass(frozen=True)
class EngineConfig:
    """What :class:`edge_lstm.stream.engine.Engine` does (the detector, operating changes and the relation view
    have their own settings)."""

    forecast_every: int = setting(10, "samples between forecasts of a stream (0: none)", non_negative,
                                  section="forecast", key="every")
    interval_z: float = setting(1.96, "forecast bounds cover what ± this covers of a normal (1.96: 95%), learned as "
                                "empirical error quantiles", positive, section="forecast")
    target_feature: int = setting(0, "which input feature the forecast predicts (and the detector judges)",
                                  non_negative, section="forecast")
    fallback: float = setting(1.0, "the last value is forecast instead while the model's recent squared errors "
                              "exceed this times the last value's (0: always the model)", non_negative,
                              section="forecast")
    fallback_alpha: float = setting(0.02, "weight of a new error in those averages", unit_interval,
                                    section="forecast")
    gap_s: float = setting(3600.0, "a sample stamped more than this before its stream's last may come from a reset "
                           "clock (clock_reset); one stamped less before it is late: dropped as stale", positive,
                           section="input")
    clock_reset: int = setting(5, "samples in a row stamped more than gap_s before a stream's last that restart it "
                               "from them (its clock was reset); 0: dropped as stale", non_negative, section="input")
    restart_after_s: float = setting(0.0, "a silence longer than this restarts a stream from zero state, its detector "
                                     "warming up again (0: never; the silence view reports the gap and the stream "
                                     "keeps what it learned)", non_negative, section="input")
    settle: int = setting(-1, "samples after a stream (re)starts that are not scored while its LSTM state settles "
                          "(-1: the model's input window, 50 for a model of any length)", _settle, section="input")
    # Set from the bundle, not the configuration file (whose input.standardise -1 means "as the bundle says"):
    standardise: int = setting(0, "scale each stream by the mean and std of its first N samples (0: off)", toml=False)
    difference: bool = setting(False, "the model sees each sample's change from the one before, over the spread of "
                               "the changes in the first ``standardise`` samples, and forecasts the change ahead "
                               "(edge-lstm train --difference)", toml=False)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    operating: OperatingConfig = field(default_factory=OperatingConfig)  # with a context: operating changes
    relation: RelationConfig = field(default_factory=RelationConfig)  # with a context: the relation view
