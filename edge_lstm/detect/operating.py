"""Operating changes: tell a machine changing load from a fault, by the device's load channel. Pure.

A load change or a stop moves a machine's *context* channel (its motor current, say) and its other
channels in the same second; a fault moves some channels without the current (cavitation: pressure
and flow), or the current alone (its sensor). So when the context channel and another channel of
the same device both *move* within ``within_s`` of each other (a sample whose residual z reaches
``move_z``, or an incident opening), that is an operating change, and every incident of the device
opening within ``within_s`` of it is dropped (open and close events both). A move need not be an
incident: a load step is often ordinary on the current's own scale and startling on vibration's.
Streams are named ``<device>/<channel>`` (the daemon's default template).

Deciding needs the other channels' samples up to ``start + within_s``, so anomaly events are held
until the device's clock passes that: the latest sample time all of its live channels have reached
(a channel more than ``LAG_S`` behind the others does not hold the device back). Anomaly events
therefore leave ``within_s`` of sample time late; forecasts pass straight through. Held events are
checkpointed with the engine (:meth:`OperatingChanges.state`), and a device that falls silent keeps
its held events until more of its samples arrive or the daemon stops (``flush``).

>>> def opened(stream, t):
...     return Incident(stream, "open", t, t, None, 1.0, 0.0, "model", 0.9, 0.9, 9.0, 0.5, "forecast", t,
...                     ("forecast",), "warning")
>>> f = OperatingChanges("motor_current", within_s=5)
>>> f.moved("m", "motor_current", 99.0)  # the current stepped (not an incident on its own scale)
>>> f.offer([opened("m/vibration", 101.0), opened("m/pressure", 300.0)])
[]
>>> [e.stream for e in f.advance({"m": 400.0})]  # the load change at 100 s is dropped, the fault kept
['m/pressure']
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from edge_lstm.settings import positive, setting
from edge_lstm.stream.events import Event, Incident

#: a channel this far (s) behind its device's newest sample no longer holds the device's clock back
LAG_S = 60.0


def device_and_channel(stream: str) -> tuple[str, str]:
    """``"pump-0/pressure"`` -> ``("pump-0", "pressure")``; a name without ``/`` is its own device."""
    device, _, channel = stream.rpartition("/")
    return device, channel


@dataclass(frozen=True)
class OperatingConfig:
    """Which channel shows a device's load, and what counts as moving with it (keys of the daemon's ``[anomaly]``
    table)."""

    context: str = setting("", "the device channel that shows its load (e.g. motor_current): incidents coinciding "
                           "with it and another channel moving together are operating changes, not published "
                           "(empty: off)", section="anomaly")
    within_s: float = setting(5.0, "how close in time (s) counts as coinciding; anomaly events are held this long",
                              positive, section="anomaly", key="context_within_s")
    move_z: float = setting(4.0, "a residual z this large counts as a channel moving", positive, section="anomaly",
                            key="context_z")


@dataclass
class _Held:
    device: str
    start: float
    since: float  # the earliest sample the incident's view judged (a pattern's first; else start)
    view: str = "forecast"
    channel: str = ""
    events: list[Incident] = field(default_factory=list)


class OperatingChanges:
    """Holds a device's anomaly events for ``within_s`` and drops those of operating changes."""

    def __init__(self, context: str, within_s: float = 5.0, move_z: float = 4.0) -> None:
        self.context, self.within, self.move_z = context, float(within_s), float(move_z)
        self.held: dict[str, _Held] = {}  # incident id -> its events so far
        self.dropped: set[str] = set()  # incidents dropped while still open (their close is dropped too)
        self.moves: dict[str, list[tuple[float, str]]] = defaultdict(list)  # device -> recent (time, channel)
        self.novel: dict[str, list[tuple[float, str]]] = defaultdict(list)  # device -> novel patterns (time, channel)
        self.clock: dict[str, float] = {}
        self.lookback = 0.0  # the longest start - since of an incident so far: how far back moves are kept
        self.load_faults: dict[str, list[list[float]]] = defaultdict(list)  # device -> the context's incidents
        self.channels: dict[str, set[str]] = defaultdict(set)  # device -> its channels
        self.counters: Counter[str] = Counter()

    def offer(self, events: list[Event]) -> list[Event]:
        """Take the engine's new events; return those that may leave now (held anomaly events leave
        from :meth:`advance`)."""
        out = []
        for event in events:
            if event.kind != "anomaly":
                out.append(event)
                continue
            incident, state = event.incident, event.state
            if incident in self.dropped:
                if state == "closed":
                    self.dropped.discard(incident)
            elif incident in self.held:
                self.held[incident].events.append(event)
            elif state == "open":
                device, channel = device_and_channel(event.stream)
                self.channels[device].add(channel)
                start = event.start
                since = min(start, event.since)
                self.lookback = max(self.lookback, start - since)
                self.held[incident] = _Held(device, start, since, event.view, channel,
                                            [event])
                self.moved(device, channel, start)
            else:
                out.append(event)  # the close of an incident released earlier
                self._track_load_fault(event)
        return out

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps (JSON): the undecided incidents' events and the evidence they wait on, so
        that a restart neither loses an incident's open event nor publishes its close alone."""
        def inf_free(t: float) -> float | None:
            return None if math.isinf(t) else t

        return {
            "held": [{"incident": k, "device": h.device, "start": h.start, "since": h.since, "view": h.view,
                      "channel": h.channel, "events": [[e.kind, e.stream, e.fields()] for e in h.events]}
                     for k, h in self.held.items()],
            "dropped": sorted(self.dropped),
            "moves": {d: [list(m) for m in ms] for d, ms in self.moves.items() if ms},
            "novel": {d: [list(m) for m in ms] for d, ms in self.novel.items() if ms},
            "load_faults": {d: [[a, inf_free(b)] for a, b in spans] for d, spans in self.load_faults.items() if spans},
            "clock": {d: inf_free(t) for d, t in self.clock.items()},
            "lookback": self.lookback,
            "counters": dict(self.counters),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state`."""
        def inf_for_none(t: float | None) -> float:
            return math.inf if t is None else float(t)

        self.held = {h["incident"]: _Held(h["device"], h["start"], h["since"], h["view"], h["channel"],
                                          [Incident.from_fields(fields) for _, _, fields in h["events"]])
                     for h in state.get("held", [])}
        self.dropped = set(state.get("dropped", []))
        self.moves = defaultdict(list, {d: [(t, c) for t, c in ms] for d, ms in state.get("moves", {}).items()})
        self.novel = defaultdict(list, {d: [(t, c) for t, c in ms] for d, ms in state.get("novel", {}).items()})
        self.load_faults = defaultdict(list, {d: [[a, inf_for_none(b)] for a, b in spans]
                                              for d, spans in state.get("load_faults", {}).items()})
        self.clock = {d: inf_for_none(t) for d, t in state.get("clock", {}).items()}
        self.lookback = float(state.get("lookback", 0.0))
        self.counters = Counter(state.get("counters", {}))

    def _track_load_fault(self, event: Incident) -> None:
        """Keep the (start, end) of the context channel's own incidents that were released as faults (not
        dropped as load changes): while one is open its readings cannot tell a load change."""
        device, channel = device_and_channel(event.stream)
        if channel != self.context:
            return
        if event.state == "open":
            self.load_faults[device].append([event.start, math.inf])
        else:
            for span in self.load_faults[device]:
                if span[0] == event.start:
                    span[1] = float(event.end)

    def add_channel(self, device: str, channel: str) -> None:
        """``device`` has a stream ``channel`` (the engine says so as streams appear)."""
        self.channels[device].add(channel)

    def forget(self, stream: str, device_remains: bool) -> list[Incident]:
        """Stream ``stream`` is gone (evicted). When its device has no stream left (not ``device_remains``), the
        device's held incidents are decided now and returned, and all that was kept of it is dropped."""
        device, channel = device_and_channel(stream)
        self.channels[device].discard(channel)
        self.dropped = {i for i in self.dropped if i.rpartition("@")[0] != stream}  # (its close will not come)
        if device_remains:
            return []
        released = self.advance({device: math.inf})
        for kept in (self.moves, self.novel, self.load_faults, self.channels, self.clock):
            kept.pop(device, None)
        return released

    def novel_pattern(self, device: str, channel: str, t: float) -> None:
        """A channel of ``device`` showed a pattern unlike its recent ones at sample time ``t`` (the detector's
        pattern view above the line), whether or not it raised an incident."""
        self.novel[device].append((t, channel))

    def moved(self, device: str, channel: str, t: float) -> None:
        """A channel of ``device`` jumped at sample time ``t`` (its residual z reached the move level)."""
        self.moves[device].append((t, channel))
        self.channels[device].add(channel)

    def advance(self, clock: dict[str, float]) -> list[Incident]:
        """The devices' clocks reached ``clock`` (device -> sample time): release, in order, the held
        incidents that are decided and not operating changes."""
        self.clock.update(clock)
        out = []
        for incident, held in sorted(self.held.items(), key=lambda item: item[1].start):
            if self.clock.get(held.device, -math.inf) < held.start + self.within:
                continue
            del self.held[incident]
            if self._operating_change(held):
                self.counters["suppressed"] += 1
                if held.events[-1].state != "closed":
                    self.dropped.add(incident)
            else:
                out.extend(held.events)
                for event in held.events:
                    self._track_load_fault(event)
        self._forget()
        return out

    def flush(self) -> list[Incident]:
        """Decide every held incident with what is known (at shutdown, or the end of a replay)."""
        return self.advance({held.device: math.inf for held in self.held.values()})

    def _operating_change(self, held: _Held) -> bool:
        moves, w = self.moves[held.device], self.within
        if held.channel != self.context and any(a <= held.start <= b for a, b in self.load_faults[held.device]):
            # The load channel is in an incident of its own (stuck, shifted) and may not show a load change,
            # but most of the other channels moving together still do.
            together = {c for t, c in moves if c != self.context and abs(t - held.start) <= w} | {held.channel}
            others = self.channels[held.device] - {self.context}
            if len(together) >= max(2, math.ceil(0.75 * len(others))):
                return True
        if held.view == "pattern":
            # Novel for the load too (or, for the load's own incident, for another channel): a new operating state.
            mine = held.channel
            return any(held.since - w <= t <= held.start + w
                       and (c != mine if mine == self.context else c == self.context)
                       for t, c in self.novel[held.device])
        for t, channel in moves:
            if channel == self.context and held.since - w <= t <= held.start + w:
                if any(other != self.context and abs(t2 - t) <= w for t2, other in moves):
                    return True
        return False

    def _forget(self) -> None:
        """Moves older than any undecided incident can need (it starts after clock - within_s and
        looks back within_s before its ``since``, at most ``lookback`` before its start) are dropped."""
        for device in {*self.moves, *self.novel, *self.load_faults}:
            horizon = min([self.clock.get(device, -math.inf) - self.lookback]
                          + [h.since for h in self.held.values() if h.device == device]) - 3 * self.within
            for kept in (self.moves, self.novel):
                if kept.get(device) and min(kept[device])[0] < horizon:
                    kept[device] = [m for m in kept[device] if m[0] >= horizon]
            if self.load_faults.get(device):
                self.load_faults[device] = [span for span in self.load_faults[device] if span[1] >= horizon]


def device_clocks(rows: dict[str, list[int]], last_ts: Any, devices: Any) -> dict[str, float]:
    """The clock of each of ``devices`` (``rows``: device -> its streams' bank rows): the earliest
    latest-sample time over its channels, leaving out channels more than LAG_S behind its newest.

    >>> device_clocks({"a": [0, 1], "b": [2]}, [10.0, 12.0, 5.0], ["a"])
    {'a': 10.0}
    >>> device_clocks({"a": [0, 1]}, [10.0, 100.0], ["a"])  # the first is 90 s behind: not waited for
    {'a': 100.0}
    """
    clocks = {}
    for device in devices:
        times = [float(last_ts[i]) for i in rows[device]]
        newest = max(times)
        clocks[device] = min(t for t in times if t >= newest - LAG_S)
    return clocks
