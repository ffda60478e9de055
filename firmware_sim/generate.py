"""Sample streams of a scenario, block by block, and their ground-truth labels.

A stream is one channel of one device. Blocks of any length give identical samples: every random
draw is a hash of (seed, sample index), never a stateful generator.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from firmware_sim import faults as fault_model
from firmware_sim.scenario import Device, Scenario
from firmware_sim.signals import adc, healthy, load


@dataclass
class StreamBlock:
    """Samples ``index`` of one stream: true times (epoch s), ADC values, and which the node never made."""

    device: Device
    channel: str
    index: np.ndarray
    t: np.ndarray
    values: np.ndarray
    dropped: np.ndarray

    @property
    def stream_id(self) -> str:
        return f"{self.device.name}/{self.channel}"


def sample_count(scenario: Scenario, device: Device) -> int:
    return int(np.floor(scenario.duration_s * device.rate_hz))


def stream_block(scenario: Scenario, device: Device, channel: str, i0: int, i1: int,
                 with_faults: bool = True) -> StreamBlock:
    """Samples ``i0 <= i < i1`` of one stream."""
    index = np.arange(i0, i1, dtype=np.int64)
    rel = index / device.rate_hz
    t = scenario.start + rel
    machine_load = load(rel, device.regime, device.seed)
    channel_seed = device.seed * 131 + device.channels.index(channel)
    values = healthy(channel, rel, machine_load, channel_seed, index)
    dropped = np.zeros(index.size, dtype=bool)
    if with_faults:
        for fault in scenario.faults:
            if fault.device == device.name and fault.channel == channel:
                fault_model.apply(fault, t, values, dropped, scenario.start)
    return StreamBlock(device, channel, index, t, adc(channel, values), dropped)


def blocks(scenario: Scenario, block_s: float = 600.0, with_faults: bool = True) -> Iterator[list[StreamBlock]]:
    """Every stream's samples, one time block after another (each item: all streams' samples in that block)."""
    n_blocks = int(np.ceil(scenario.duration_s / block_s))
    for b in range(n_blocks):
        out = []
        for device in scenario.devices:
            total = sample_count(scenario, device)
            i0 = int(np.ceil(b * block_s * device.rate_hz))
            i1 = min(total, int(np.ceil((b + 1) * block_s * device.rate_hz)))
            if i1 > i0:
                out.extend(stream_block(scenario, device, c, i0, i1, with_faults) for c in device.channels)
        yield out


def outside(scenario: Scenario) -> list[str]:
    """The faults that begin after the scenario's duration (cut short with --duration): not in :func:`labels`."""
    return [f"{f.kind} on {f.device}/{f.channel} at {f.start / 3600:g} h" for f in scenario.faults
            if f.start >= scenario.duration_s]


def labels(scenario: Scenario) -> dict[str, list[tuple[float, float]]]:
    """Stream id -> labelled anomaly windows [start, end) in epoch seconds (dropouts included); a fault that begins
    after the duration has no window (its start would lie beyond its clipped end)."""
    out: dict[str, list[tuple[float, float]]] = {}
    for fault in scenario.faults:
        if fault.start >= scenario.duration_s:
            continue
        end = min(fault.end, scenario.duration_s)
        out.setdefault(f"{fault.device}/{fault.channel}", []).append(
            (scenario.start + fault.start, scenario.start + end))
    return {k: sorted(v) for k, v in out.items()}


def fault_kinds(scenario: Scenario) -> dict[str, list[str]]:
    """Stream id -> the fault kind of each window in :func:`labels`, in the same order."""
    out: dict[str, list[tuple[float, str]]] = {}
    for fault in scenario.faults:
        if fault.start < scenario.duration_s:
            out.setdefault(f"{fault.device}/{fault.channel}", []).append((fault.start, fault.kind))
    return {k: [kind for _, kind in sorted(v)] for k, v in out.items()}
