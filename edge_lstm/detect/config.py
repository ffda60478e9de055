"""The detector's settings: each field's default, help and bounds in one place (the daemon's ``[anomaly]`` table
is derived from them: :mod:`edge_lstm.serve.config`), with the checks across fields."""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge_lstm.settings import non_negative, one_of, positive, setting, unit_interval

MODES = ("novelty", "z")
DAY_S = 86400.0


@dataclass(frozen=True)
class DetectorConfig:
    """What :class:`edge_lstm.detect.detector.Detector` does (its module docstring says how)."""

    warmup: int = setting(50, "samples before a stream may raise anomalies", non_negative)
    threshold: float = setting(5.0, "z of the residual: anomalous above it in mode z, critical above twice it",
                               positive)
    alpha: float = setting(0.01, "weight of a new residual once warmed up", unit_interval)
    quiet: int = setting(10, "normal samples that close an incident", positive)
    min_std: float = setting(1e-6, "floor on the residual spread (a flat signal is not infinitely surprising)",
                             toml=False)
    mode: str = setting("novelty", "the anomaly score (README: anomaly detection)", one_of(*MODES))
    novelty_window: int = setting(1_000_000, "samples of history (residuals, pattern distances, gaps, runs) a sample "
                                  "is compared with: the largest of them is the bar for news", positive)
    z_gate: float = setting(8.0, "novelty is damped while z is below this", positive)
    pattern_length: int = setting(64, "samples in the pattern view's window, a multiple of pattern_segment (0: no "
                                  "pattern view)", non_negative)
    pattern_segment: int = setting(8, "samples averaged into one segment of a pattern", positive)
    pattern_memory: int = setting(1200, "samples of history searched for the nearest pattern (at least twice "
                                  "pattern_length)", positive)
    pattern_long_memory: int = setting(4800, "once a stream has seen this many values, the pattern view compares every "
                                       "value (not segment means) with this many samples of history (0: never)",
                                       non_negative)
    pattern_gate: float = setting(3.0, "the pattern view is damped while its distance is below this times its mean",
                                  positive)
    level_window: int = setting(4800, "samples whose [min, max] a value is compared with (0: no level view)",
                                non_negative)
    level_margin: float = setting(0.1, "the level view alarms when a value leaves that range by more than this "
                                  "share of it", positive)
    silence_gate: float = setting(10.0, "a gap between samples is news beyond this times the mean gap and twice the "
                                  "longest lately (0: no silence view)", non_negative)
    stuck_run: int = setting(10, "identical values in a row are news beyond this and twice the longest run lately "
                             "(0: no stuck view)", non_negative)
    late_gap: float = setting(4.0, "a sample this many mean gaps after the previous one is not judged or learned by "
                              "the forecast view (its forecast spans the gap; 0: off)", non_negative)
    seasonal_days: int = setting(0, "the forecast view also expects any value seen within seasonal_width_s of this "
                                 "time of day on each of the last N days (0: off)", non_negative)
    seasonal_width_s: float = setting(3600.0, "seconds either side of the time of day that the seasonal memory "
                                      "searches", non_negative)
    seasonal_bin_s: float = setting(300.0, "the seasonal memory keeps each bin's [min, max] (must divide a day)",
                                    positive)
    tail_rate: float = setting(0.001, "the forecast view's bar is at least the |residual| its stream exceeds once in "
                               "1 / tail_rate samples (a Gumbel fit to its block maxima; 0: off)", non_negative)
    forecast_margin: float = setting(0.1, "once a stream has seen forecast_margin_after values, its forecast residual "
                                     "is news only past the bar by this share (0: off)", non_negative)
    forecast_margin_after: int = setting(4800, "values a stream has seen before forecast_margin applies",
                                         non_negative)
    tail_confidence: float = setting(1.0, "standard errors of that fit's estimate added to the bar it sets (a fit to "
                                     "few block maxima is uncertain; 0: the estimate alone)", non_negative)
    tail_block: int = setting(32, "samples per block maximum of that fit", positive)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"detector mode must be one of {MODES}, not {self.mode!r}")
        if self.pattern_length:
            if self.pattern_segment < 1 or self.pattern_length % self.pattern_segment:
                raise ValueError(f"pattern_length: must be a multiple of pattern_segment ({self.pattern_segment}), "
                                 f"got {self.pattern_length}")
            if self.pattern_memory < 2 * self.pattern_length:
                raise ValueError(f"pattern_memory: must be at least twice pattern_length ({self.pattern_length}), "
                                 f"got {self.pattern_memory}")
            if self.pattern_long_memory and self.pattern_long_memory < 2 * self.pattern_length:
                raise ValueError(f"pattern_long_memory: must be 0 or at least twice pattern_length "
                                 f"({self.pattern_length}), got {self.pattern_long_memory}")
        if self.seasonal_days < 0:
            raise ValueError(f"seasonal_days: must be zero or positive, got {self.seasonal_days}")
        if self.seasonal_days:
            if self.seasonal_bin_s <= 0 or DAY_S % self.seasonal_bin_s:
                raise ValueError(f"seasonal_bin_s: must divide a day ({DAY_S:g} s) into whole bins, "
                                 f"got {self.seasonal_bin_s}")
            if self.seasonal_width_s < 0:
                raise ValueError(f"seasonal_width_s: must be zero or positive, got {self.seasonal_width_s}")

    @property
    def pattern_segments(self) -> int:
        """Segment means a stream keeps for the pattern view (0: no pattern view)."""
        if not self.pattern_length:
            return 0
        return self.pattern_memory // self.pattern_segment + self.pattern_length // self.pattern_segment

    @property
    def long_stage_memory(self) -> int:
        """Samples the pattern view's long stage searches (0: no long stage, or no pattern view)."""
        return self.pattern_long_memory if self.pattern_length else 0

    @property
    def seasonal_bins(self) -> int:
        """Bins a stream keeps for the seasonal memory: back to ``seasonal_days`` days and the width before now."""
        if not self.seasonal_days:
            return 1
        return int(self.seasonal_days * DAY_S // self.seasonal_bin_s + self.seasonal_reach + 1)

    @property
    def seasonal_reach(self) -> int:
        """Bins either side of the same time of day that the seasonal memory searches."""
        return math.ceil(self.seasonal_width_s / self.seasonal_bin_s)

    @property
    def threshold_score(self) -> float:
        """The score above which a sample is anomalous (either mode)."""
        return 0.5
