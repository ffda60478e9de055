"""Faults injected into a channel, each over a labelled window [start, end).

Every fault is a pure function of absolute sample times, so blocks of any size give the same
result. Magnitudes default to a fraction of the channel's span (full-load minus idle value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmware_sim.signals import CHANNELS, _hash_uniform, hash_normal

KINDS = ("spike", "level_shift", "drift", "stuck", "noise_burst", "dropout", "intermittent", "degradation")

#: Default magnitude per kind, as a fraction of the channel's span.
DEFAULT_MAGNITUDE = {
    "spike": 0.8, "level_shift": 0.3, "drift": 0.5, "stuck": 0.0, "noise_burst": 0.15,
    "dropout": 0.0, "intermittent": 0.35, "degradation": 1.5,
}

#: How degradation grows each channel by failure time (a multiple of span, or a factor).
DEGRADATION_GAIN = {"vibration_rms": 5.0, "bearing_temp": 0.6, "motor_current": 0.25, "pressure": -0.3,
                    "flow": -0.3}


@dataclass(frozen=True)
class Fault:
    """One fault on one channel of one device; times are seconds from the scenario's start."""

    kind: str
    device: str
    channel: str
    start: float
    duration: float
    magnitude: float | None = None  # in the channel's units; None = the kind's default
    seed: int = 0

    @property
    def end(self) -> float:
        return self.start + self.duration

    def size(self) -> float:
        """The fault's magnitude in channel units."""
        if self.magnitude is not None:
            return self.magnitude
        _, idle, full, *_ = CHANNELS[self.channel]
        return DEFAULT_MAGNITUDE[self.kind] * (full - idle)


def apply(fault: Fault, t: np.ndarray, values: np.ndarray, dropped: np.ndarray, t0: float) -> None:
    """Inject ``fault`` into ``values`` (in place) at times ``t`` (epoch seconds; scenario starts at ``t0``).

    ``dropped`` (bool, in place) marks samples the node never produces.
    """
    rel = t - t0
    inside = (rel >= fault.start) & (rel < fault.end)
    if not inside.any() and fault.kind not in ("stuck", "degradation"):
        return
    m = fault.size()
    progress = np.clip((rel - fault.start) / max(fault.duration, 1e-9), 0.0, 1.0)
    if fault.kind in ("spike", "level_shift"):
        values[inside] += m
    elif fault.kind == "drift":
        values[inside] += m * progress[inside]
    elif fault.kind == "noise_burst":
        index = np.round(rel * 1000.0).astype(np.int64)
        values[inside] += m * hash_normal(fault.seed, index[inside])
    elif fault.kind == "dropout":
        dropped |= inside
    elif fault.kind == "intermittent":
        period = max(fault.duration / 12.0, 1.0)
        on = _hash_uniform(fault.seed, np.floor((rel - fault.start) / period).astype(np.int64)) < 0.5
        # The first period is always on, so an intermittent fault is never silent in its window.
        on |= (rel - fault.start) < period
        hit = inside & on
        values[hit] += m
    elif fault.kind == "stuck":
        if inside.any():
            values[inside] = stuck_value(fault)
    elif fault.kind == "degradation":
        gain = DEGRADATION_GAIN.get(fault.channel, 0.5)
        _, idle, full, *_ = CHANNELS[fault.channel]
        span = full - idle
        grow = np.expm1(3.0 * progress) / np.expm1(3.0)  # exponential run-up to failure
        effect = gain * span * grow * (fault.size() / (DEFAULT_MAGNITUDE["degradation"] * span))
        values[inside] += effect[inside]
        after = rel >= fault.end
        if after.any():  # failed: the machine is down, the channel reads its idle value
            values[after] = idle


def stuck_value(fault: Fault) -> float:
    """The value a stuck sensor reports: a fixed reading inside the channel's range."""
    _, idle, full, *_ = CHANNELS[fault.channel]
    return idle + (full - idle) * (0.2 + 0.6 * float(_hash_uniform(fault.seed, np.array([0]))[0]))
