"""What sensor nodes actually send: timestamps with jitter and skew, reboots (with ``clock_sync``, the
clock starting from the epoch until it syncs), lost and duplicated messages, offline buffering with a
backlog burst, and (on request) malformed payloads.

Turns the sample blocks of :mod:`firmware_sim.generate` into MQTT messages (topic, payload, the
simulated time at which it is sent), in send order. Pure: no network here.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from firmware_sim.generate import StreamBlock, blocks
from firmware_sim.scenario import MALFORMED_KINDS, Scenario
from firmware_sim.signals import _hash_uniform, hash_normal

TOPIC_PREFIX = "sensors"
OVERSIZE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Message:
    send_time: float  # simulated epoch seconds
    topic: str
    payload: bytes
    kind: str  # "sample", "duplicate", "backlog" or "malformed:<kind>"
    samples: int  # valid samples carried


def allocate(count: int, mix: dict[str, float]) -> list[str]:
    """Exactly ``count`` kinds in the proportions of ``mix`` (largest remainder; a tie goes to the kind
    listed first in MALFORMED_KINDS), interleaved.

    >>> sorted(Counter(allocate(10, {"nan": 1, "truncated": 1, "oversize": 2})).items())
    [('nan', 2), ('oversize', 5), ('truncated', 3)]
    """
    total = sum(mix.values())
    kinds = [k for k in MALFORMED_KINDS if mix.get(k, 0) > 0] + sorted(k for k in mix if k not in MALFORMED_KINDS)
    quotas = {k: count * mix[k] / total for k in kinds}
    counts = {k: math.floor(q) for k, q in quotas.items()}
    for k in sorted(kinds, key=lambda k: (counts[k] - quotas[k], kinds.index(k)))[: count - sum(counts.values())]:
        counts[k] += 1
    sequence: list[str] = []
    while len(sequence) < count:
        for k in kinds:
            if counts[k]:
                sequence.append(k)
                counts[k] -= 1
    return sequence


def malformed_payload(kind: str, ts: float) -> bytes:
    if kind == "truncated":
        return json.dumps({"ts": ts, "value": 1.2345}).encode()[:-9]
    if kind == "nan":
        return f'{{"ts": {ts:.3f}, "value": NaN}}'.encode()
    if kind == "wrong_type":
        return json.dumps({"ts": ts, "value": "high"}).encode()
    if kind == "oversize":
        return json.dumps({"ts": ts, "value": 1.0, "debug": "x" * OVERSIZE_BYTES}).encode()
    raise ValueError(f"unknown malformed kind {kind!r}")


class Firmware:
    """Turns sample blocks into messages, carrying per-stream state (sequence counters) across blocks."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.fw = scenario.firmware
        self.counts: Counter[str] = Counter()
        streams = [(d, c) for d in scenario.devices for c in d.channels]
        self._stream_index = {f"{d.name}/{c}": i for i, (d, c) in enumerate(streams)}
        self._malformed = self._plan_malformed(streams)

    def _plan_malformed(self, streams: list) -> list[tuple[float, str, str]]:
        """(time, topic, kind) of every malformed message: spread evenly over the run, exact mix."""
        n = self.fw.malformed_count
        kinds = allocate(n, self.fw.malformed_mix) if n else []
        plan = []
        for j, kind in enumerate(kinds):
            device, channel = streams[j % len(streams)]
            at = self.scenario.start + (j + 0.5) * self.scenario.duration_s / n
            plan.append((at, f"{TOPIC_PREFIX}/{device.name}/{channel}", kind))
        return plan

    def _reported_time(self, s: StreamBlock) -> np.ndarray:
        seed = s.device.seed * 977 + 13
        jitter = self.fw.jitter_ms / 1000.0 * hash_normal(seed, s.index)
        skew = self.fw.clock_skew_ppm * 1e-6 * (s.t - self.scenario.start)
        return s.t + jitter + skew

    def _stamped(self, s: StreamBlock, clock: np.ndarray) -> np.ndarray:
        """The time stamps a node writes (``clock``: its synced reading): after a reboot, with ``clock_sync``,
        the seconds since the boot (its clock starts at the epoch) until it syncs."""
        if not (self.fw.reboot_every_s > 0 and self.fw.clock_sync_s > 0):
            return clock
        since_boot, rebooted = self._since_boot(s)
        return np.where(rebooted & (since_boot < self.fw.clock_sync_s), since_boot + (clock - s.t), clock)

    def _since_boot(self, s: StreamBlock) -> tuple[np.ndarray, np.ndarray]:
        """Seconds since the node's last (re)boot at each sample, and whether it has rebooted by then."""
        rel = s.t - self.scenario.start
        return np.mod(rel, self.fw.reboot_every_s), np.floor(rel / self.fw.reboot_every_s) >= 1

    def _alive(self, s: StreamBlock) -> tuple[np.ndarray, np.ndarray]:
        """Which samples the node produced (not rebooting, not a dropout) and their sequence numbers."""
        produced = ~s.dropped
        if self.fw.reboot_every_s > 0:
            since_boot, booted = self._since_boot(s)
            produced &= ~(booted & (since_boot < self.fw.reboot_gap_s))
            seq = np.floor(since_boot * s.device.rate_hz).astype(np.int64)
        else:
            seq = s.index.copy()
        return produced, seq

    def messages(self, block: list[StreamBlock]) -> list[Message]:
        """All messages whose samples fall in this block (plus due malformed ones), in send order."""
        out: list[Message] = []
        if not block:
            return out
        t_lo = min(float(s.t[0]) for s in block)
        t_hi = max(float(s.t[-1]) for s in block)
        groups: dict[str, list[StreamBlock]] = {}
        for s in block:
            groups.setdefault(s.device.name, []).append(s)
        for streams in groups.values():
            if self.scenario.payload.format == "json-values":
                out.extend(self._device_messages(streams))
            else:
                for s in streams:
                    out.extend(self._stream_messages(s))
        due = [m for m in self._malformed if t_lo <= m[0] <= t_hi + 1e-9]
        for at, topic, kind in due:
            out.append(Message(at, topic, malformed_payload(kind, at), f"malformed:{kind}", 0))
            self.counts[f"malformed:{kind}"] += 1
        self._malformed = [m for m in self._malformed if m not in due]
        out.sort(key=lambda m: m.send_time)
        return out

    def _timing(self, s: StreamBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(kept, seq, reported ts, send time, backlog, duplicate) for one stream's block."""
        fw = self.fw
        produced, seq = self._alive(s)
        clock = self._reported_time(s)  # the node's (synced) clock at each sample
        reported = self._stamped(s, clock)
        send = clock.copy()  # sent when its clock reads this; a backlog later (below), its stamps unchanged
        seed = s.device.seed * 7 + self._stream_index[s.stream_id]
        lost = _hash_uniform(seed, s.index) < fw.loss
        dup = _hash_uniform(seed + 1, s.index) < fw.duplicates
        backlog = np.zeros(s.index.size, dtype=bool)
        for start, length in fw.offline:
            a, b = self.scenario.start + start, self.scenario.start + start + length
            inside = (s.t >= a) & (s.t < b)
            send[inside] = b + 1e-3 * np.arange(int(inside.sum()))  # burst after reconnecting
            backlog |= inside
        self.counts["produced"] += int(produced.sum())
        self.counts["lost"] += int((produced & lost).sum())
        return produced & ~lost, seq, reported, send, backlog, dup

    def _stream_messages(self, s: StreamBlock) -> Iterator[Message]:
        keep, seq, reported, send, backlog, dup = self._timing(s)
        topic = f"{TOPIC_PREFIX}/{s.device.name}/{s.channel}"
        return self._encode(topic, send[keep], reported[keep], s.values[keep], seq[keep], backlog[keep], dup[keep])

    def _device_messages(self, streams: list[StreamBlock]) -> Iterator[Message]:
        """One ``{"ts", "values": [...]}`` message per sample time on ``sensors/<device>/all``."""
        first = streams[0]
        keep, seq, reported, send, backlog, dup = self._timing(first)
        for s in streams[1:]:
            keep &= ~s.dropped  # a sample missing on any channel drops the whole vector
        values = np.stack([s.values for s in streams], axis=1)
        topic = f"{TOPIC_PREFIX}/{first.device.name}/all"
        for i in np.flatnonzero(keep).tolist():
            row = ", ".join(f"{v:.4f}" for v in values[i].tolist())
            payload = f'{{"ts": {reported[i]:.3f}, "values": [{row}], "seq": {int(seq[i])}}}'.encode()
            kind = "backlog" if backlog[i] else "sample"
            self.counts[kind] += 1
            self.counts["samples_sent"] += len(streams)
            yield Message(float(send[i]), topic, payload, kind, len(streams))
            if dup[i]:
                self.counts["duplicate"] += 1
                yield Message(float(send[i]) + 1e-4, topic, payload, "duplicate", len(streams))

    def _encode(self, topic: str, send: np.ndarray, ts: np.ndarray, values: np.ndarray, seq: np.ndarray,
                backlog: np.ndarray, dup: np.ndarray) -> Iterator[Message]:
        payload_format, batch = self.scenario.payload.format, self.scenario.payload.batch
        ts_l, v_l, q_l = ts.tolist(), values.tolist(), seq.tolist()
        send_l, backlog_l, dup_l = send.tolist(), backlog.tolist(), dup.tolist()
        for start in range(0, len(v_l), batch):
            stop = min(start + batch, len(v_l))
            if payload_format == "json":
                items = [f'{{"ts": {ts_l[i]:.3f}, "value": {v_l[i]:.4f}, "seq": {q_l[i]}}}' for i in range(start, stop)]
                text = items[0] if batch == 1 else "[" + ", ".join(items) + "]"
            elif payload_format == "csv":
                text = f"{ts_l[start]:.3f},{v_l[start]:.4f}"
            else:  # number
                text = f"{v_l[start]:.4f}"
            payload = text.encode()
            kind = "backlog" if any(backlog_l[start:stop]) else "sample"
            when = max(send_l[start:stop])
            self.counts[kind] += 1
            self.counts["samples_sent"] += stop - start
            yield Message(when, topic, payload, kind, stop - start)
            if any(dup_l[start:stop]):
                self.counts["duplicate"] += 1
                yield Message(when + 1e-4, topic, payload, "duplicate", stop - start)

    def finish(self) -> list[Message]:
        """Malformed messages not yet sent (none, unless the run was shortened)."""
        rest = [Message(at, topic, malformed_payload(kind, at), f"malformed:{kind}", 0)
                for at, topic, kind in self._malformed]
        for m in rest:
            self.counts[m.kind] += 1
        self._malformed = []
        return rest


def all_messages(scenario: Scenario, block_s: float = 600.0) -> Iterator[Message]:
    """Every message of the scenario, block by block, in send order within each block."""
    firmware = Firmware(scenario)
    for block in blocks(scenario, block_s):
        yield from firmware.messages(block)
    yield from firmware.finish()
