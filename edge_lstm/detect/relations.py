"""The relation view: a channel whose changes no other channel of its device explains. Pure; no I/O.

A one-step forecaster follows a fault that grows slowly — a temperature sensor drifting, a bearing
wearing out over a day and a half — and every view of a single stream learns it as normal. What does
not follow it is the *relation* between the device's channels: under a load change, current,
vibration and temperature move together in fixed proportions; a drifting sensor or a worn bearing
moves one or two of them alone. So per device, over blocks of ``block`` samples (block means):

- for each ordered pair of channels (i, j), the slope ``b`` of i's block-to-block changes on j's
  (least squares through the origin, weighted ``alpha`` a block, corrected for the attenuation by
  j's own measurement noise: learned from load steps, so any operating level will do; a pair is not
  judged until j's changes have exceeded its noise);
- the change of i over ``span`` blocks that j's change does not explain,
  ``u = (x_i now - x_i then) - b (x_j now - x_j then)`` ("then": the median of three blocks, so
  that a spike then does not read as a fault now), judged against its running mean and mean
  absolute deviation (both learned with clipping at ``gate`` deviations, as the detector's residual
  statistics), with ``tolerance`` of the explained change ``b (x_j now - x_j then)`` also allowed
  (no relation is exact): the pair's ratio;
- a channel's relation ratio is the *smallest* of its pairs': it is news when the channel disagrees
  with every other one. A current sensor's level shift breaks its pairs with temperature and with
  vibration, but temperature and vibration still agree with each other, so only the current is
  blamed; a drifting temperature sensor is blamed alone; wear moves several channels by different
  amounts at once and breaks every pair. A channel blamed in a block is not blamed a span later for
  a change the other way: that is the fault ending;
- and for faults slower still: per pair, a two-sided CUSUM of the *block-to-block* unexplained change
  (in deviations plus ``tolerance`` of the explained change, at most ``CUSUM_CAP`` a block: a step
  is the other views' to see), pushed only by what exceeds ``CUSUM_K`` deviations, its deviation
  learned only while the CUSUM is at 0 — so a fault that keeps pushing is never learned as normal
  (the span comparison's statistics widen as a slow fault grows). A channel's CUSUM is the smallest
  over its pairs; over ``cusum`` it is news. The channel's relation ratio is the larger of the two.

Blocks are judged only while the device runs (every sample of its ``context`` channel in both blocks
above 10% of its largest block mean so far): starting and stopping move some channels by more than the
load explains (a bearing warms from just running). A block lasts ``block`` times the context channel's
mean gap over its first ``block`` samples, and closes when any channel of the device reaches a later
time, so a sample's ratio depends only on samples before it. Samples arriving for a block already
closed are left out (counted in ``late``). A ratio above 1 is anomalous; the detector takes it as its
sixth view (:data:`edge_lstm.detect.detector.VIEWS`).

>>> rel = Relations(RelationConfig(block=4, span=4), context="current")
>>> rng = np.random.default_rng(0)
>>> ratios = []
>>> for t in range(400):
...     load = 10.0 + 5.0 * ((t // 40) % 2)  # a load step every 40 samples
...     drift = 0.0 if t < 300 else 0.2 * (t - 300)  # temperature's sensor drifts from t = 300
...     for channel, value in (("current", load), ("vibration", 0.2 * load), ("temp", 30 + 2 * load + drift)):
...         ratios.append((t, channel, rel.observe("m", channel, float(t), value + 0.01 * rng.standard_normal())))
>>> sorted({c for t, c, r in ratios if r > 1.0})  # the drift is blamed on temperature alone
['temp']
>>> min(t for t, c, r in ratios if r > 1.0)  # within a few blocks of its start; the load steps before it explained
308
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_lstm.settings import non_negative, positive, setting, unit_interval

RUNNING = 0.1  # a block runs when the context channel stays above this share of its largest block mean
CUSUM_K = 1.0  # deviations a block's unexplained change must exceed to push the CUSUM up
CUSUM_CAP = 4.0  # the most one block adds (a step is the other views' to see; the CUSUM sums persistence)


@dataclass(frozen=True)
class RelationConfig:
    """The relation view's settings (keys ``relation_*`` of the daemon's ``[anomaly]`` table); on with
    ``anomaly.context``."""

    block: int = setting(32, "the relation view (with context): samples of the context channel per block of means; "
                         "a channel whose change over relation_span blocks no other channel of its device explains "
                         "is anomalous (0: off)", non_negative, section="anomaly", key="relation_block")
    span: int = setting(64, "blocks between the two the relation view compares", positive, section="anomaly",
                        key="relation_span")
    alpha: float = setting(0.002, "weight of a new block in the relation view's slopes and statistics",
                           unit_interval, section="anomaly", key="relation_alpha")
    gate: float = setting(4.0, "the relation view alarms beyond this many mean deviations of the unexplained "
                          "change", positive, section="anomaly", key="relation_gate")
    warmup: int = setting(16, "blocks judged before the relation view may alarm", non_negative, section="anomaly",
                          key="relation_warmup")
    tolerance: float = setting(0.1, "share of the change the other channel explains that the relation view also "
                               "allows (no relation is exact)", non_negative, section="anomaly",
                               key="relation_tolerance")
    cusum: float = setting(10.0, "the relation view also alarms when the CUSUM of a channel's block-to-block "
                           "unexplained changes passes this (slow faults; 0: off)", non_negative, section="anomaly",
                           key="relation_cusum")


@dataclass
class _Device:
    """One device's blocks and pair statistics."""

    channels: list[str] = field(default_factory=list)
    block_s: float = 0.0  # 0 until the context channel's first ``block`` gaps are seen
    gaps: list[float] = field(default_factory=list)
    last_context_ts: float = math.nan
    block: int = -1  # the current block's number, floor(ts / block_s)
    index: dict[str, int] = field(default_factory=dict)  # channel -> its position
    # The open block's sums, sums of squares and counts per channel (lists: one sample at a time is the hot path)
    sums: list[float] = field(default_factory=list)
    squares: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)  # each channel's ratio as of the last block
    noise: np.ndarray = field(default_factory=lambda: np.zeros(0))  # log of each channel's variance of a block mean
    noise_blocks: np.ndarray = field(default_factory=lambda: np.zeros(0))  # blocks that measured it
    context_min: float = math.inf
    context_max: float = 0.0  # the largest block mean of the context channel so far
    means: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # ring of block means (span + 1, C)
    valid: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))  # a mean there was measured
    running: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    # ring: the channel was blamed in that block, and which way its change went (+1 / -1; 0: not blamed)
    blamed: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int8))
    closed: int = 0  # blocks closed so far
    sxy: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # pair (i on j) statistics
    learned: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))  # blocks the slope learned from
    syy: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    mean: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    deviation: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    judged: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    # the CUSUM of each pair's block-to-block unexplained change: its deviation, blocks judged, both sides
    step_deviation: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    step_judged: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    up: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    down: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    scale: np.ndarray = field(default_factory=lambda: np.zeros(0))  # each channel's largest |block mean|

    LISTS = ("sums", "squares", "counts", "ratios")
    ARRAYS = ("noise", "noise_blocks", "means", "valid", "running", "blamed",
              "sxy", "syy", "learned", "mean", "deviation", "judged", "step_deviation", "step_judged",
              "up", "down", "scale")


def _deviation_floor(device: _Device) -> np.ndarray:
    """The least deviation of channel i's unexplained change (a flat channel is not infinitely surprising)."""
    return 1e-9 + 1e-4 * device.scale[:, None]


class Relations:
    """Relation ratios of every channel of every device, one sample at a time."""

    def __init__(self, config: RelationConfig, context: str) -> None:
        if config.block and not context:
            raise ValueError("the relation view needs the device's load channel (anomaly.context)")
        self.config, self.context = config, context
        self.devices: dict[str, _Device] = {}
        self.late = 0  # samples left out: their block had closed

    def observe(self, device_name: str, channel: str, ts: float, value: float) -> float:
        """Take one sample of a device's channel; return that channel's relation ratio as of the blocks
        closed before it."""
        device = self.devices.get(device_name)
        if device is None:
            device = self.devices[device_name] = _Device()
        c = device.index.get(channel)
        if c is None:
            c = device.index[channel] = len(device.channels)
            device.channels.append(channel)
            self._resize(device, len(device.channels))
        if device.block_s <= 0.0:
            if channel == self.context:
                self._learn_block_length(device, ts)
            return 0.0
        block = math.floor(ts / device.block_s)
        if device.block < 0:
            device.block = block
        if block < device.block:
            self.late += 1
            return device.ratios[c]
        while device.block < block:
            self._close(device)
            device.block += 1
            if device.block < block and block - device.block > self.config.span + 1:
                # A long silence: every block in between is empty, and nothing before it is a reference now.
                device.block = block
                device.running[:] = False
                device.valid[:] = False
        device.sums[c] += value
        device.squares[c] += value * value
        device.counts[c] += 1
        if channel == self.context and value < device.context_min:
            device.context_min = value
        return device.ratios[c]

    def forget(self, device_name: str, channel: str) -> None:
        """Channel ``channel`` of a device is gone (its stream was evicted): its rows and columns leave every
        statistic; a device left without channels leaves."""
        device = self.devices.get(device_name)
        if device is None or channel not in device.index:
            return
        if len(device.channels) == 1:
            del self.devices[device_name]
            return
        keep = [k for k in range(len(device.channels)) if k != device.index[channel]]
        device.channels = [device.channels[k] for k in keep]
        device.index = {name: k for k, name in enumerate(device.channels)}
        for name in _Device.LISTS:
            setattr(device, name, [getattr(device, name)[k] for k in keep])
        for name in ("noise", "noise_blocks", "scale"):  # one per channel
            setattr(device, name, getattr(device, name)[keep])
        for name in ("means", "valid", "blamed"):  # (ring, channels)
            setattr(device, name, getattr(device, name)[:, keep])
        for name in ("sxy", "syy", "mean", "deviation", "step_deviation", "up", "down", "judged", "step_judged",
                     "learned"):  # (channels, channels)
            setattr(device, name, getattr(device, name)[np.ix_(keep, keep)])

    def _learn_block_length(self, device: _Device, ts: float) -> None:
        if device.block_s > 0.0:
            return
        if not math.isnan(device.last_context_ts) and ts > device.last_context_ts:
            device.gaps.append(ts - device.last_context_ts)
        device.last_context_ts = ts
        if len(device.gaps) >= self.config.block:
            device.block_s = self.config.block * float(np.mean(device.gaps))

    def _resize(self, device: _Device, n: int) -> None:
        ring = self.config.span + 1

        def grown(a: np.ndarray, shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
            out = np.zeros(shape, dtype)
            out[tuple(slice(0, s) for s in a.shape)] = a
            return out

        for name in _Device.LISTS:
            getattr(device, name).append(0)
        device.noise = grown(device.noise, (n,))
        device.noise_blocks = grown(device.noise_blocks, (n,))
        device.scale = grown(device.scale, (n,))
        device.means = grown(device.means, (ring, n))
        device.valid = grown(device.valid, (ring, n), bool)
        device.blamed = grown(device.blamed, (ring, n), np.int8)
        if device.running.size != ring:
            device.running = np.zeros(ring, bool)
        for name in ("sxy", "syy", "mean", "deviation", "step_deviation", "up", "down"):
            setattr(device, name, grown(getattr(device, name), (n, n)))
        device.judged = grown(device.judged, (n, n), np.int64)
        device.step_judged = grown(device.step_judged, (n, n), np.int64)
        device.learned = grown(device.learned, (n, n), np.int64)

    def _close(self, device: _Device) -> None:
        """The current block ends: its means join the ring; slopes learn; pairs spanning ``span`` are judged."""
        cfg, ring = self.config, self.config.span + 1
        k = device.closed
        at = k % ring
        counts, sums, squares = np.array(device.counts, np.float64), np.array(device.sums), np.array(device.squares)
        measured = counts > 0
        means = np.where(measured, sums / np.maximum(counts, 1), 0.0)
        context = device.index.get(self.context, -1)
        runs = context >= 0 and measured[context]
        if runs:
            device.context_max = max(device.context_max, float(means[context]))
            runs = device.context_min > RUNNING * device.context_max
        device.means[at], device.valid[at], device.running[at] = means, measured, runs
        device.scale = np.maximum(device.scale, np.abs(means) * measured)
        if runs:  # the measurement noise of a block mean: the within-block variance over the count, averaged
            # as logarithms (a load step inside a block inflates that block's variance a hundredfold)
            several = (counts >= 2) & measured
            spread = (squares - counts * means**2) / np.maximum(counts - 1, 1)
            sample = np.log(np.maximum(spread, 1e-300) / np.maximum(counts, 1))
            device.noise_blocks += several
            weight = np.where(several, np.maximum(cfg.alpha, 1.0 / np.maximum(device.noise_blocks, 1)), 0.0)
            device.noise += weight * (sample - device.noise)
        n = len(device.channels)
        device.sums, device.squares, device.counts = [0.0] * n, [0.0] * n, [0] * n
        device.context_min = math.inf
        device.closed = k + 1
        ratio, direction, persistent = np.zeros(n), np.zeros(n, np.int8), np.zeros(n)
        device.up[:] = np.where(runs, device.up, 0.0)
        device.down[:] = np.where(runs, device.down, 0.0)
        if k >= 1:
            prev = (k - 1) % ring
            if runs and device.running[prev]:
                both = measured & device.valid[prev]
                change = np.where(both, means - device.means[prev], 0.0)
                if cfg.cusum:
                    persistent = self._cusum(device, change, both) / cfg.cusum
                pairs = np.outer(both, both)
                device.learned += pairs
                weight = np.where(pairs, np.maximum(cfg.alpha, 1.0 / np.maximum(device.learned, 1)), 0.0)
                device.sxy += weight * (np.outer(change, change) - device.sxy)
                device.syy += weight * (change[None, :] ** 2 - device.syy)
        if k >= cfg.span:
            then = (k - cfg.span) % ring  # the oldest block the ring holds; the reference: it and the next two
            around = [then, (then + 1) % ring, (then + 2) % ring]
            if runs and device.running[around].all():
                reference = np.median(device.means[around], axis=0)
                ratio, direction = self._judge(device, means, measured, reference,
                                               device.valid[around].all(axis=0))
                # A channel blamed then, whose change since goes the other way, is not blamed again: that is the
                # fault ending. (The same way: the fault goes on.)
                ending = (device.blamed[around] * direction[None, :] < 0).any(axis=0)
                ratio[ending] = 0.0
        ratio = np.maximum(ratio, persistent)
        device.ratios = ratio.tolist()
        device.blamed[at] = np.where(ratio > 1.0, direction, 0)

    def _slopes(self, device: _Device, pair: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The slope of i on j, corrected for j's measurement noise (which attenuates a least-squares slope),
        and where it is known: once j's changes have shown more than its noise (a load step)."""
        noise = np.where(device.noise_blocks > 0, 2.0 * np.exp(device.noise), 0.0)[None, :]  # of a difference of j's
        signal = device.syy - noise
        known = pair & (signal > noise)
        return np.divide(device.sxy, signal, out=np.zeros_like(device.sxy), where=known), known

    def _cusum(self, device: _Device, change: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Push each pair's two-sided CUSUM by this block's unexplained change (in deviations, at most
        ``CUSUM_CAP``); its deviation learns only while the CUSUM is at 0, so a fault that keeps pushing is never
        learned. Returns each channel's smallest CUSUM over its pairs."""
        cfg = self.config
        n = change.size
        off = ~np.eye(n, dtype=bool)
        slope, known = self._slopes(device, np.outer(valid, valid) & off)
        explained = slope * change[None, :]
        e = change[:, None] - explained
        spread = np.maximum(device.step_deviation, _deviation_floor(device))
        z = np.clip(e / (spread + cfg.tolerance * np.abs(explained)), -CUSUM_CAP, CUSUM_CAP)
        warmed = known & (device.step_judged >= cfg.warmup)
        device.up = np.where(warmed, np.maximum(0.0, device.up + z - CUSUM_K), 0.0)
        device.down = np.where(warmed, np.maximum(0.0, device.down - z - CUSUM_K), 0.0)
        in_control = (device.up == 0.0) & (device.down == 0.0)
        device.step_judged += known
        settled = device.step_judged > cfg.warmup
        size = np.where(settled, np.minimum(np.abs(e), cfg.gate * spread), np.abs(e))
        weight = np.where(known & (in_control | ~settled),
                          np.maximum(cfg.alpha, 1.0 / np.maximum(device.step_judged, 1)), 0.0)
        device.step_deviation += weight * (size - device.step_deviation)
        pushed = np.where(off, np.maximum(device.up, device.down), np.inf)
        return pushed.min(axis=1) if n > 1 else np.zeros(n)

    def _judge(self, device: _Device, now: np.ndarray, now_ok: np.ndarray, then: np.ndarray, then_ok: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """Each channel's ratio (the smallest of its pairs') and the sign of its unexplained change there."""
        cfg = self.config
        n = now.size
        ok = now_ok & then_ok
        change = np.where(ok, now - then, 0.0)
        slope, judged = self._slopes(device, np.outer(ok, ok) & ~np.eye(n, dtype=bool))
        u = change[:, None] - slope * change[None, :]  # i's change that j's does not explain
        spread = np.maximum(device.deviation, _deviation_floor(device))
        warmed = device.judged >= cfg.warmup
        allowed = cfg.gate * spread + cfg.tolerance * np.abs(slope * change[None, :])
        delta = u - device.mean
        pair_ratio = np.where(judged & warmed, np.abs(delta) / allowed, 0.0)
        delta = np.where(warmed, np.clip(delta, -cfg.gate * spread, cfg.gate * spread), delta)
        signs = np.sign(delta).astype(np.int8)
        device.judged += judged
        weight = np.where(judged, np.maximum(cfg.alpha, 1.0 / np.maximum(device.judged, 1)), 0.0)
        device.mean += weight * delta
        device.deviation += weight * (np.abs(delta) - device.deviation)
        # A channel is blamed when it disagrees with every other channel (one not judged with it: no blame).
        if n < 2:
            return np.zeros(n), np.zeros(n, np.int8)
        others = np.where(np.eye(n, dtype=bool), np.inf, pair_ratio)
        binding = others.argmin(axis=1)
        return others[np.arange(n), binding], signs[np.arange(n), binding]

    # -- checkpoints ------------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, JSON-ready metadata) for the engine's checkpoint: the pair statistics and block rings go
        in arrays (``"<device number>/<name>"``), the rest in the metadata."""
        arrays, devices = {}, []
        for i, (name, d) in enumerate(self.devices.items()):
            devices.append({"name": name, "channels": d.channels, "block_s": d.block_s, "gaps": d.gaps,
                            "last_context_ts": None if math.isnan(d.last_context_ts) else d.last_context_ts,
                            "block": d.block, "context_min": None if math.isinf(d.context_min) else d.context_min,
                            "context_max": d.context_max, "closed": d.closed,
                            **{a: list(getattr(d, a)) for a in _Device.LISTS}})
            arrays.update({f"{i}/{a}": getattr(d, a).copy() for a in _Device.ARRAYS})
        return arrays, {"devices": devices, "late": self.late}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.devices, self.late = {}, int(meta.get("late", 0))
        for i, s in enumerate(meta.get("devices", [])):
            d = _Device(channels=list(s["channels"]), block_s=float(s["block_s"]), gaps=list(s["gaps"]),
                        last_context_ts=math.nan if s["last_context_ts"] is None else float(s["last_context_ts"]),
                        block=int(s["block"]),
                        context_min=math.inf if s["context_min"] is None else float(s["context_min"]),
                        context_max=float(s["context_max"]), closed=int(s["closed"]))
            d.index = {channel: k for k, channel in enumerate(d.channels)}
            for a in _Device.LISTS:
                setattr(d, a, list(s[a]))
            for a in _Device.ARRAYS:
                setattr(d, a, np.array(arrays[f"{i}/{a}"], dtype=getattr(d, a).dtype))
            self.devices[s["name"]] = d
