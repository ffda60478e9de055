"""The bodies the daemon publishes, as JSON-ready dicts: anomaly and forecast events rendered from the engine's
records (schemas/anomaly.schema.json, schemas/forecast.schema.json) and the errors body (schemas/error.schema.json).
Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from edge_lstm.stream.events import Event, Forecast, Incident


def stamps(ts: float) -> dict[str, Any]:
    """A sample time three ways: ``ts`` epoch seconds, ``ts_ms`` whole epoch milliseconds (what Telegraf and InfluxDB
    read as the time: deploy/telegraf.conf) and ``time``, ISO-8601 UTC to the millisecond."""
    ms = round(ts * 1000)
    iso = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"ts": ts, "ts_ms": ms, "time": iso}


def anomaly_body(e: Incident) -> dict[str, Any]:
    """An anomaly event's body."""
    return {
        "stream": e.stream, "state": e.state, "is_anomaly": 0 if e.state == "closed" else 1, "incident": e.incident,
        **stamps(e.ts), "start": e.start, "end": e.end,
        "value": e.value, "expected": e.expected, "residual": e.value - e.expected, "forecaster": e.forecaster,
        "score": e.score, "peak_score": e.peak_score, "z": e.z, "threshold": e.threshold,
        "view": e.view, "since": e.since, "views": list(e.views), "severity": e.severity,
    }


def forecast_body(e: Forecast) -> dict[str, Any]:
    """A forecast event's body."""
    return {
        "stream": e.stream, **stamps(e.ts), "horizon": len(e.values), "values": list(e.values),
        "lower": list(e.lower), "upper": list(e.upper), "interval": e.interval, "calibrated": e.calibrated,
        "forecaster": e.forecasters[0], "forecasters": list(e.forecasters),
    }


def event_body(event: Event) -> dict[str, Any]:
    """The body of an anomaly or forecast event."""
    return anomaly_body(event) if isinstance(event, Incident) else forecast_body(event)


def rejection(topic: str, payload: bytes, reason: str, count: int, now: float) -> dict[str, Any]:
    """What ``.../errors`` says of a rejected payload (schemas/error.schema.json); ``count``: rejected so far."""
    return {"topic": topic, "reason": reason, "bytes": len(payload), "ts": now, "count": count}
