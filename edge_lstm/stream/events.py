"""What the engine returns: typed records of incidents and forecasts (``edge_lstm.serve.wire`` renders them to the
wire format of schemas/), and, for observers, every scored sample of a detector update. Pure."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

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
class Incident:
    """An incident opening or closing at sample time ``ts`` (an anomaly event)."""

    kind: ClassVar[str] = "anomaly"
    stream: str
    state: str  # "open" or "closed"
    start: float  # sample time of its first anomalous sample
    ts: float
    end: float | None  # ``ts`` when closed
    value: float
    expected: float  # the forecast of ``value``
    forecaster: str  # which made it: "model" or "last_value" (edge_lstm.forecast.fallback)
    score: float
    peak_score: float  # the largest score of the incident so far
    z: float
    threshold: float  # the score's line between normal and anomalous
    view: str  # the view that gave the score (VIEWS)
    since: float  # when what that view judged began
    views: tuple[str, ...]  # every view that found the incident's samples anomalous
    severity: str  # "warning" or "critical"

    @property
    def incident(self) -> str:
        """The incident's id: the same in its open and its close."""
        return f"{self.stream}@{self.start:.3f}"

    def fields(self) -> dict[str, Any]:
        """The record as a JSON-ready dict (what a checkpoint keeps of a held incident)."""
        return {**dataclasses.asdict(self), "views": list(self.views)}

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> Incident:
        """The record from :meth:`fields`, or from an anomaly event's wire body (a checkpoint of an older
        version kept those: they hold every field)."""
        kept = {f.name: fields[f.name] for f in dataclasses.fields(cls)}
        return cls(**{**kept, "views": tuple(kept["views"])})


@dataclass(frozen=True)
class Forecast:
    """A forecast made at sample time ``ts``: the next values of the target feature and their band."""

    kind: ClassVar[str] = "forecast"
    stream: str
    ts: float
    values: tuple[float, ...]  # one per step ahead
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    interval: float  # the band's nominal coverage
    calibrated: bool  # the band's width was checked on held-out data
    forecasters: tuple[str, ...]  # per step: "model" or "last_value" (edge_lstm.forecast.fallback)


Event = Incident | Forecast


def severity(peak_z: float, threshold: float) -> str:
    """'critical' when the incident's peak z is at least twice the z threshold, else 'warning'."""
    return "critical" if peak_z >= 2 * threshold else "warning"


def forecast_of(stream: str, ts: float, values: np.ndarray, lower: np.ndarray, upper: np.ndarray, coverage: float,
             calibrated: bool, naive: np.ndarray) -> Forecast:
    """A forecast record; ``naive``: per step, whether it is the last value rather than the model's."""
    return Forecast(stream, ts, tuple(values.tolist()), tuple(lower.tolist()), tuple(upper.tolist()),
                    round(coverage, 4), calibrated,
                    tuple("last_value" if n else "model" for n in np.atleast_1d(naive).tolist()))


def incident_of(stream: str, result: Update, k: int, ts: float, value: float, expected: float, naive: bool,
             views: int, threshold: float, z_threshold: float) -> Incident:
    """The incident opening or closing at sample ``k`` of a detector update; ``views``: a bit per view (VIEWS)
    that found its samples anomalous."""
    closing = bool(result.closed[k])
    return Incident(
        stream, "closed" if closing else "open", float(result.incident_start[k]), ts, ts if closing else None,
        value, expected, "last_value" if naive else "model", float(result.score[k]),
        float(result.incident_peak_score[k]), float(result.z[k]), threshold, VIEWS[result.view[k]],
        float(result.since[k]), tuple(v for bit, v in enumerate(VIEWS) if views >> bit & 1),
        severity(float(result.incident_peak_z[k]), z_threshold))
