"""What the engine returns: events (anomaly and forecast, with their wire bodies) and, for observers, every scored
sample of a detector update. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from edge_lstm.detect.detector import VIEWS, Update


@dataclass(frozen=True)
class Scored:
    """Every scored sample of one detector update (what an observer of the engine sees), in order."""

    streams: np.ndarray  # bank rows
    ts: np.ndarray
    value: np.ndarray
    expected: np.ndarray  # the forecast made one sample earlier
    result: Update
    lower: np.ndarray  # its interval
    upper: np.ndarray
    naive: np.ndarray  # the forecast was the last value (edge_lstm.forecast.fallback), not the model's


@dataclass(frozen=True)
class Event:
    kind: str  # "anomaly" or "forecast"
    stream: str
    body: dict[str, Any]


def stamps(ts: float) -> dict[str, Any]:
    """A sample time three ways: ``ts`` epoch seconds, ``ts_ms`` whole epoch milliseconds (what Telegraf and InfluxDB
    read as the time: deploy/telegraf.conf) and ``time``, ISO-8601 UTC to the millisecond."""
    ms = round(ts * 1000)
    iso = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"ts": ts, "ts_ms": ms, "time": iso}


def severity(peak_z: float, threshold: float) -> str:
    """'critical' when the incident's peak z is at least twice the z threshold, else 'warning'."""
    return "critical" if peak_z >= 2 * threshold else "warning"


def forecast_event(stream: str, ts: float, values: np.ndarray, lower: np.ndarray, upper: np.ndarray, coverage: float,
                   calibrated: bool, naive: np.ndarray) -> Event:
    """A forecast made at sample time ``ts``: the next values and their band (schemas/forecast.schema.json);
    ``naive``: per step, whether it is the last value (edge_lstm.forecast.fallback) rather than the model's."""
    forecasters = ["last_value" if n else "model" for n in np.atleast_1d(naive).tolist()]
    return Event("forecast", stream, {
        "stream": stream, **stamps(ts), "horizon": len(values), "values": values.tolist(), "lower": lower.tolist(),
        "upper": upper.tolist(), "interval": round(coverage, 4), "calibrated": calibrated,
        "forecaster": forecasters[0], "forecasters": forecasters,
    })


def anomaly_event(stream: str, result: Update, k: int, ts: float, value: float, expected: float, naive: bool,
                  views: int, threshold: float, z_threshold: float) -> Event:
    """An incident opening or closing at sample ``k`` of a detector update (schemas/anomaly.schema.json);
    ``views``: a bit per view (VIEWS) that found the incident's samples anomalous."""
    closing = bool(result.closed[k])
    return Event("anomaly", stream, {
        "stream": stream, "state": "closed" if closing else "open", "is_anomaly": 0 if closing else 1,
        "incident": f"{stream}@{result.incident_start[k]:.3f}",
        **stamps(ts), "start": float(result.incident_start[k]), "end": ts if closing else None,
        "value": value, "expected": expected, "residual": value - expected,
        "forecaster": "last_value" if naive else "model",
        "score": float(result.score[k]), "peak_score": float(result.incident_peak_score[k]),
        "z": float(result.z[k]), "threshold": threshold,
        "view": VIEWS[result.view[k]], "since": float(result.since[k]),
        "views": [v for bit, v in enumerate(VIEWS) if views >> bit & 1],
        "severity": severity(float(result.incident_peak_z[k]), z_threshold),
    })
