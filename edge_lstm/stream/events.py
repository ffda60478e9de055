"""What the engine returns: events (anomaly and forecast, with their wire bodies) and, for observers, every scored
sample of a detector update. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_lstm.detect.detector import Update


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


def severity(peak_z: float, threshold: float) -> str:
    """'critical' when the incident's peak z is at least twice the z threshold, else 'warning'."""
    return "critical" if peak_z >= 2 * threshold else "warning"
