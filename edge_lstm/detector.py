"""Anomaly scoring of forecast residuals, for many streams at once. Pure NumPy/Numba; no I/O.

Each stream keeps a running estimate of its one-step forecast residual's mean and spread
(Welford's average during warm-up, then an exponentially weighted one), giving every residual a
z-value. Residuals beyond the z threshold update the estimate only clipped to it, so an incident
does not teach the detector that incidents are normal. Two scores, by ``mode``:

- ``"novelty"`` (default): how far ``|residual|`` exceeds the largest one of the trailing
  ``novelty_window`` samples, damped while z is below ``z_gate``:
  ``v = |r| / max|r|(trailing) * min(1, z / z_gate)``, score ``v / (1 + v)``; anomalous when
  ``v > 1`` (score above 0.5). An error the model makes every day is no news; a larger one is.
  On the NAB dev subset (``z_gate`` 4) this scored 57.8 against 11 for the z score (docs/evaluation.md);
  on simulated machines, ``z_gate`` 8 (the default) keeps sensor noise from raising incidents.
  The trailing maximum is kept per block of ``novelty_window / 8`` samples (8 floats a stream); an
  anomalous residual enters it at most at twice the maximum before it, so one huge spike does not
  hide the next fault for a whole window (NAB 57.4 → 59.5; a cap of 1: 3.5, of 3: 58.2).
- ``"z"``: ``z / (z + threshold)``; anomalous when ``z`` exceeds ``threshold`` (score above 0.5).

Either way the score is in [0, 1) and 0.5 is the line between normal and anomalous.

Incidents are debounced: one opens at the first anomalous sample after warm-up and closes after
``quiet`` consecutive normal samples, so a burst of anomalous samples is one incident.

>>> d = Detector(DetectorConfig(warmup=5, threshold=4.0, mode="z"))
>>> idx = np.array([0])
>>> for r in [0.1, -0.1, 0.05, -0.05, 0.0, 0.08]:
...     _ = d.update(idx, np.array([r]), np.array([0.0]))
>>> out = d.update(idx, np.array([5.0]), np.array([1.0]))
>>> bool(out.opened[0]), bool(out.score[0] > 0.9)
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

MODES = ("novelty", "z")
BLOCKS = 8  # blocks of the trailing-maximum window


@dataclass(frozen=True)
class DetectorConfig:
    warmup: int = 50  # residuals seen before a stream may raise anomalies
    threshold: float = 5.0  # z-value above which a sample is anomalous (mode "z"); twice it: critical
    alpha: float = 0.01  # weight of a new residual once warmed up
    quiet: int = 10  # normal samples that close an incident
    min_std: float = 1e-6  # floor on the residual spread (a flat signal is not infinitely surprising)
    mode: str = "novelty"  # "novelty" or "z" (see the module docstring)
    novelty_window: int = 1200  # samples of residual history a new residual is compared with
    z_gate: float = 8.0  # novelty is damped while z is below this (4 scored best on NAB; 8: ~0 false alarms on noise)
    # Read by the engine, not the detector: incidents coinciding with a jump of the device's ``context``
    # channel (its load: motor current, speed) are operating changes, dropped (edge_lstm.operating).
    context: str = ""  # the channel name; "" = off
    context_within_s: float = 5.0
    context_z: float = 4.0  # a residual z this large is a channel "moving"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"detector mode must be one of {MODES}, not {self.mode!r}")

    @property
    def threshold_score(self) -> float:
        """The score above which a sample is anomalous (either mode)."""
        return 0.5


@dataclass
class Update:
    """Per-sample results of :meth:`Detector.update`, aligned with its inputs."""

    z: np.ndarray
    score: np.ndarray
    anomalous: np.ndarray
    opened: np.ndarray  # an incident opened at this sample
    closed: np.ndarray  # an incident closed at this sample (its start: ``incident_start``)
    incident_start: np.ndarray
    incident_peak_z: np.ndarray  # the largest z of the incident so far
    expected_std: np.ndarray
    incident_peak_score: np.ndarray  # the largest score of the incident so far


class Detector:
    """Residual statistics and incident state for a growable set of streams."""

    FIELDS = ("count", "mean", "var", "open", "start", "peak", "calm", "peak_score", "blocks", "block_fill")

    def __init__(self, config: DetectorConfig, capacity: int = 16) -> None:
        self.config = config
        self.threshold_score = config.threshold_score
        self.count = np.zeros(capacity, np.int64)
        self.mean = np.zeros(capacity)
        self.var = np.zeros(capacity)
        self.open = np.zeros(capacity, bool)
        self.start = np.zeros(capacity)
        self.peak = np.zeros(capacity)
        self.calm = np.zeros(capacity, np.int64)
        self.peak_score = np.zeros(capacity)
        self.blocks = np.zeros((capacity, BLOCKS + 1))  # max |residual| per block; the last: the current block
        self.block_fill = np.zeros(capacity, np.int64)  # samples in the current block

    @property
    def capacity(self) -> int:
        return self.count.shape[0]

    def grow(self, capacity: int) -> None:
        if capacity <= self.capacity:
            return
        for name in self.FIELDS:
            old = getattr(self, name)
            new = np.zeros((capacity, *old.shape[1:]), old.dtype)
            new[: old.shape[0]] = old
            setattr(self, name, new)

    def reset(self, idx: np.ndarray) -> None:
        """Forget streams ``idx`` (after a gap or a state reset): they warm up again."""
        for name in self.FIELDS:
            getattr(self, name)[idx] = 0

    def std(self, idx: np.ndarray) -> np.ndarray:
        return np.sqrt(np.maximum(self.var[idx], self.config.min_std**2))

    def update(self, idx: np.ndarray, residual: np.ndarray, ts: np.ndarray) -> Update:
        """Score each residual against its stream ``idx[j]``, then learn from it, in order (a stream may repeat)."""
        cfg = self.config
        k = idx.size
        out = Update(*(np.empty(k) for _ in range(2)), *(np.empty(k, bool) for _ in range(3)),
                     *(np.empty(k) for _ in range(4)))
        block = max(1, -(-cfg.novelty_window // BLOCKS))
        _update(np.ascontiguousarray(idx, np.int64), np.ascontiguousarray(residual, np.float64),
                np.ascontiguousarray(ts, np.float64), self.count, self.mean, self.var, self.open, self.start,
                self.peak, self.calm, self.peak_score, self.blocks, self.block_fill, cfg.warmup, cfg.threshold,
                cfg.alpha, cfg.quiet, cfg.min_std, cfg.mode == "novelty", block, cfg.z_gate,
                out.z, out.score, out.anomalous, out.opened, out.closed, out.incident_start, out.incident_peak_z,
                out.expected_std, out.incident_peak_score)
        return out

    def close_all(self, idx: np.ndarray) -> np.ndarray:
        """Close any open incident of streams ``idx`` (on shutdown); return which were open."""
        was = self.open[idx].copy()
        self.open[idx] = False
        return was

    def state(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name).copy() for name in self.FIELDS}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        for name in self.FIELDS:
            setattr(self, name, np.array(state[name], dtype=getattr(self, name).dtype))


@njit(cache=True)
def _update(idx, residual, ts, count, mean, var, is_open, start, peak, calm, peak_score, blocks, block_fill, warmup,
            threshold, alpha, quiet, min_std, novelty, block, z_gate, z_out, score_out, anomalous_out, opened_out,
            closed_out, start_out, peak_out, std_out, peak_score_out):
    """The per-stream update of :meth:`Detector.update`, compiled (one call per batch of streams)."""
    nblocks = blocks.shape[1] - 1
    for j in range(idx.size):
        i = idx[j]
        std = math.sqrt(max(var[i], min_std * min_std))
        warmed = count[i] >= warmup
        z = abs(residual[j] - mean[i]) / std if warmed else 0.0
        size = abs(residual[j])
        if novelty:
            history = 0.0
            for b in range(nblocks + 1):
                history = max(history, blocks[i, b])
            v = size / max(history, min_std) * min(1.0, z / z_gate) if warmed else 0.0
            score = v / (1.0 + v)
            anomalous = warmed and v > 1.0
        else:
            score = z / (z + threshold)
            anomalous = warmed and z > threshold
        was_open = is_open[i]
        opened = anomalous and not was_open
        if opened:
            start[i] = ts[j]
        if anomalous:
            peak[i] = max(peak[i], z)
            peak_score[i] = max(peak_score[i], score)
        c = 0 if anomalous else calm[i] + 1
        closed = was_open and c >= quiet
        z_out[j], score_out[j], anomalous_out[j], opened_out[j], closed_out[j] = z, score, anomalous, opened, closed
        start_out[j], peak_out[j], std_out[j], peak_score_out[j] = start[i], peak[i], std, peak_score[i]
        now_open = (was_open or opened) and not closed
        is_open[i] = now_open
        calm[i] = c if now_open else 0
        if not now_open:
            peak[i] = 0.0
            peak_score[i] = 0.0
        # Learn: clip what exceeded the threshold, Welford while warming up, then EWMA.
        delta = residual[j] - mean[i]
        if warmed:
            limit = threshold * std
            delta = min(max(delta, -limit), limit)
        n = count[i] + 1
        weight = alpha if warmed else 1.0 / n
        mean[i] += weight * delta
        var[i] = (1.0 - weight) * (var[i] + weight * delta * delta)
        count[i] = n
        # The trailing maximum of |residual|: the current block, rolled into the ring when full.
        if anomalous and novelty and history > 0.0:
            size = min(size, 2.0 * history)  # an incident raises the bar, but at most twice
        blocks[i, nblocks] = max(blocks[i, nblocks], size)
        block_fill[i] += 1
        if block_fill[i] >= block:
            for b in range(nblocks - 1):
                blocks[i, b] = blocks[i, b + 1]
            blocks[i, nblocks - 1] = blocks[i, nblocks]
            blocks[i, nblocks] = 0.0
            block_fill[i] = 0
