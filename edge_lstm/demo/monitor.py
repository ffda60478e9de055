"""What the demo watches: every scored sample (from the daemon's engine) and every event the
daemon published (from the broker), per stream. Thread-safe; no I/O."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_lstm.stream.events import Scored


@dataclass
class StreamTrace:
    ts: list[float] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    expected: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    forecast: dict[str, Any] | None = None  # the last forecast event
    forecasts: int = 0
    incidents: list[dict[str, Any]] = field(default_factory=list)  # open events, updated by their close


class Monitor:
    """Collects the demo's observations; ``observe`` runs on the daemon's worker thread, ``on_message``
    on the watcher's network thread, the readers on the main thread."""

    def __init__(self, node: str, names: list[str]) -> None:
        self.prefix = f"edge-lstm/{node}/"
        self._names = names  # the engine's stream names (bank row -> name), shared, append-only
        self._lock = threading.Lock()
        self.streams: dict[str, StreamTrace] = defaultdict(StreamTrace)
        self.errors: list[dict[str, Any]] = []
        self.event_latency_s: list[float] = []  # wall time from a sample's publication to its anomaly event
        self.sent_at = None  # callable: sample ts -> wall time it was published (set by the demo)

    def observe(self, scored: Scored) -> None:
        """Engine observer: record every scored sample."""
        with self._lock:
            for k in range(scored.ts.size):
                s = self.streams[self._names[scored.streams[k]]]
                s.ts.append(float(scored.ts[k]))
                s.value.append(float(scored.value[k]))
                s.expected.append(float(scored.expected[k]))
                s.score.append(float(scored.result.score[k]))
                s.lower.append(float(scored.lower[k]))
                s.upper.append(float(scored.upper[k]))

    def on_message(self, client: Any, userdata: Any, message: Any) -> None:
        """paho callback for ``edge-lstm/<node>/#``."""
        received = time.time()
        topic = message.topic.removeprefix(self.prefix)
        try:
            body = json.loads(message.payload)
        except ValueError:
            return
        kind, _, stream = topic.partition("/")
        with self._lock:
            if kind == "anomaly":
                incidents = self.streams[stream].incidents
                if body["state"] == "open":
                    incidents.append(dict(body))
                    if self.sent_at is not None:
                        self.event_latency_s.append(received - self.sent_at(body["ts"]))
                else:
                    for incident in incidents:
                        if incident["incident"] == body["incident"]:
                            incident.update(state="closed", end=body["end"], peak_score=body["peak_score"],
                                            severity=body["severity"])
            elif kind == "forecast":
                self.streams[stream].forecast = body
                self.streams[stream].forecasts += 1
            elif kind == "errors":
                self.errors.append(body)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """The latest of every stream, for the live view."""
        with self._lock:
            return {name: {"samples": len(s.ts), "value": s.value[-1] if s.value else None,
                           "expected": s.expected[-1] if s.expected else None,
                           "score": s.score[-1] if s.score else None,
                           "forecast": (s.forecast or {}).get("values", [None])[0],
                           "forecaster": (s.forecast or {}).get("forecaster"),
                           "open": sum(i["state"] == "open" for i in s.incidents), "incidents": len(s.incidents)}
                    for name, s in sorted(self.streams.items())}

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        with self._lock:
            s = self.streams[name]
            return {key: np.array(getattr(s, key)) for key in ("ts", "value", "expected", "score", "lower", "upper")}

    def incidents(self, name: str, last_ts: float) -> list[tuple[float, float]]:
        """(start, end) of the stream's incidents; an open one ends at ``last_ts``."""
        with self._lock:
            return [(i["start"], i["end"] if i.get("end") is not None else last_ts)
                    for i in self.streams[name].incidents]
