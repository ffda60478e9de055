"""The daemon's stats as Prometheus metrics (``stats.metrics_port``): one gauge, labelled by stat name."""

from __future__ import annotations

from typing import Any

from edge_lstm.serve.config import ConfigError


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
