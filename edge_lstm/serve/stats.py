"""The daemon's stats (what ``.../stats`` says every ``stats.every_s``) and the same as Prometheus metrics
(``stats.metrics_port``): one gauge, labelled by stat name."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_lstm.serve.config import ConfigError

if TYPE_CHECKING:
    from edge_lstm.serve.daemon import Daemon


def daemon_stats(daemon: Daemon) -> dict[str, Any]:
    """The daemon's counters, its engine's and its connection's, and the step latency's percentiles."""
    d = daemon
    latency = np.array(d.engine.step_seconds or [0.0]) * 1e3
    return {
        "node": d.node, "ts": time.time(), "uptime_s": round(time.time() - d.started, 1),
        "streams": len(d.engine.names), "samples": d.engine.counters["samples"],
        "messages": d.counters["messages"], "errors": d.counters["errors"],
        "stale": d.counters["stale"], "gap_resets": d.engine.counters["gap_resets"],
        "clock_resets": d.engine.counters["clock_resets"], "internal_errors": d.counters["internal_errors"],
        "non_finite": d.engine.counters["non_finite"],
        "fallback_streams": int(d.engine.fallback.active(np.arange(len(d.engine.names))).sum()),
        "operating_changes": d.engine.operating.counters["suppressed"] if d.engine.operating else 0,
        "dropped_overload": d.counters["dropped_overload"], "evicted": d.counters["evicted"],
        "events": {"anomaly": d.counters["events_anomaly"], "forecast": d.counters["events_forecast"]},
        "queue_depth": len(d.intake), "unacked_events": d.outbox.pending(),
        "outbox_waits": d.counters["outbox_waits"], "unconfirmed_events": d.outbox.unconfirmed,
        "steps": d.engine.counters["steps"],
        "step_latency_ms": {"p50": round(float(np.percentile(latency, 50)), 4),
                            "p99": round(float(np.percentile(latency, 99)), 4)},
        **d.link.stats(),
        "disconnects": d.counters["disconnects"], "checkpoints": d.counters["checkpoints"],
        "checkpoint_errors": d.counters["checkpoint_errors"],
    }


class Metrics:
    """Serves ``/metrics`` on ``port``; :meth:`update` sets every numeric stat (booleans as 0/1)."""

    def __init__(self, port: int) -> None:
        from prometheus_client import Gauge, start_http_server

        try:
            start_http_server(port)
        except OSError as exc:  # a port in use or not ours to take: say so, not a traceback
            raise ConfigError(f"stats.metrics_port: cannot serve metrics on port {port} ({exc.strerror})") from None
        self.gauge = Gauge("edge_lstm", "edge-lstm daemon counters", ["name"])

    def update(self, stats: dict[str, Any]) -> None:
        for key, value in stats.items():
            if isinstance(value, (int, float)):
                self.gauge.labels(key).set(value)
