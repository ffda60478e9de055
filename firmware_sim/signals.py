"""Healthy signals of rotating machinery: operating regime, physics-flavoured channels, noise, ADC.

Pure NumPy; every function takes absolute sample times, so a signal can be generated in blocks
and come out the same whatever the block size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY = 86_400.0

#: Channel kinds: (unit, idle value, value at full load, noise std, ADC range low, high).
CHANNELS: dict[str, tuple[str, float, float, float, float, float]] = {
    "vibration_rms": ("mm/s", 0.3, 4.0, 0.08, 0.0, 50.0),
    "bearing_temp": ("°C", 25.0, 65.0, 0.15, -20.0, 150.0),
    "motor_current": ("A", 0.5, 18.0, 0.12, 0.0, 60.0),
    "pressure": ("bar", 0.2, 6.0, 0.03, 0.0, 16.0),
    "flow": ("m³/h", 0.0, 40.0, 0.3, 0.0, 100.0),
}

ADC_BITS = 12


@dataclass(frozen=True)
class Regime:
    """How a machine is run: a daily load cycle, random load steps, and stops."""

    daily_amplitude: float = 0.25  # load swing over a day
    step_every_s: float = 1_800.0  # mean time between load changes
    stop_every_s: float = 6 * 3_600.0  # mean time between stops (0 = never stops)
    stop_for_s: float = 600.0  # length of a stop


def _hash_uniform(seed: int, index: np.ndarray) -> np.ndarray:
    """Deterministic uniforms in [0, 1) from (seed, integer index), independent of block boundaries."""
    x = (index.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def hash_normal(seed: int, index: np.ndarray) -> np.ndarray:
    """Deterministic standard normals from (seed, index) by Box–Muller on two hashed uniforms.

    >>> a = hash_normal(7, np.arange(10)); b = hash_normal(7, np.arange(5, 10))
    >>> bool(np.array_equal(a[5:], b))
    True
    """
    u1 = _hash_uniform(seed, 2 * index)
    u2 = _hash_uniform(seed ^ 0x5DEECE66D, 2 * index + 1)
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def load(t: np.ndarray, regime: Regime, seed: int) -> np.ndarray:
    """Machine load in [0, 1] at times ``t`` (seconds); 0 while stopped.

    Load changes every ``step_every_s`` at a phase of the machine's own: operators do not change
    load on the clock's half hours, and faults scheduled at round times must not coincide with load
    changes by construction (they did, before: every fault onset fell on a load step).
    """
    phase = regime.step_every_s * float(_hash_uniform(seed + 2, np.zeros(1, np.int64))[0])
    slot = np.floor((t + phase) / regime.step_every_s).astype(np.int64)
    level = 0.45 + 0.35 * _hash_uniform(seed, slot)
    daily = regime.daily_amplitude * np.sin(2 * np.pi * t / DAY - np.pi / 2)
    value = np.clip(level + daily, 0.05, 1.0)
    if regime.stop_every_s > 0:
        window = np.floor(t / regime.stop_every_s).astype(np.int64)
        start = (window + 0.2 + 0.6 * _hash_uniform(seed + 1, window)) * regime.stop_every_s
        stopped = (t >= start) & (t < start + regime.stop_for_s)
        value = np.where(stopped, 0.0, value)
    return value


def healthy(kind: str, t: np.ndarray, machine_load: np.ndarray, seed: int, sample_index: np.ndarray) -> np.ndarray:
    """A channel's healthy value (before faults, wear and the ADC)."""
    _, idle, full, noise, _, _ = CHANNELS[kind]
    running = machine_load > 0
    if kind == "pressure":
        base = idle + (full - idle) * machine_load**2
    elif kind == "bearing_temp":
        # The daily ambient swing, plus heat from load and from simply running (no thermal lag modelled).
        ambient = 3.0 * np.sin(2 * np.pi * t / DAY - np.pi / 2)
        base = idle + ambient + (full - idle) * (0.6 * machine_load + 0.4 * running)
    else:
        base = idle + (full - idle) * machine_load
    return base + noise * hash_normal(seed, sample_index)


def adc(kind: str, value: np.ndarray) -> np.ndarray:
    """Quantise to a 12-bit ADC over the channel's range (clipping at the rails)."""
    _, _, _, _, low, high = CHANNELS[kind]
    step = (high - low) / (2**ADC_BITS - 1)
    return low + np.clip(np.round((value - low) / step), 0, 2**ADC_BITS - 1) * step
