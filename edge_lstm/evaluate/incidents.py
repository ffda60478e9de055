"""Event detection metrics against labelled windows (the overlap rule of telemanom and Orion). Pure.

An incident (start, end) is *true* when it overlaps a labelled window, *false* otherwise. A window
is *detected* when an incident overlaps it; its detection delay is the first such incident's start
minus the window's start (0 when the incident began before the window). The true positives are the
windows detected, the false negatives the windows missed, the false positives the false incidents:
precision is ``detected / (detected + false incidents)``, so several incidents in one window count
once (neither a cost nor a gain).

>>> m = match([(5.0, 6.0), (7.0, 8.0), (50.0, 51.0)], [(4.0, 10.0), (20.0, 30.0)])
>>> m.true_incidents, m.false_incidents, m.detected, m.windows, m.delays
(2, 1, 1, 2, [1.0])
>>> round(m.precision, 2), round(m.recall, 2), round(m.f1, 2)
(0.5, 0.5, 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Match:
    true_incidents: int = 0
    false_incidents: int = 0
    detected: int = 0  # windows with an overlapping incident
    windows: int = 0
    delays: list[float] = field(default_factory=list)  # seconds from window start to its first incident

    @property
    def precision(self) -> float:
        """Windows detected over windows detected plus false incidents (1 with neither)."""
        total = self.detected + self.false_incidents
        return self.detected / total if total else 1.0

    @property
    def recall(self) -> float:
        return self.detected / self.windows if self.windows else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def mean_delay(self) -> float | None:
        return sum(self.delays) / len(self.delays) if self.delays else None

    def __add__(self, other: Match) -> Match:
        return Match(self.true_incidents + other.true_incidents, self.false_incidents + other.false_incidents,
                     self.detected + other.detected, self.windows + other.windows, self.delays + other.delays)


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two inclusive (start, end) spans share a moment."""
    return a[0] <= b[1] and b[0] <= a[1]


def match(incidents: list[tuple[float, float]], windows: list[tuple[float, float]]) -> Match:
    """Count true and false incidents and detected windows (see the module docstring)."""
    result = Match(windows=len(windows))
    for incident in incidents:
        if any(overlaps(incident, w) for w in windows):
            result.true_incidents += 1
        else:
            result.false_incidents += 1
    for window in windows:
        starts = [i[0] for i in incidents if overlaps(i, window)]
        if starts:
            result.detected += 1
            result.delays.append(max(0.0, min(starts) - window[0]))
    return result
