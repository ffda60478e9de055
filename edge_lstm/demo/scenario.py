"""The demo's scenario: two motors and a pump at 1 Hz, healthy at first, then four kinds of fault.

Faults sit at fixed fractions of the simulated span (``duration × speed`` seconds), so a short CI
run and a long demo both see every fault after the streams have warmed up.
"""

from __future__ import annotations

from typing import Any

from firmware_sim.scenario import Scenario, from_dict

#: (kind, device, channel, start as a fraction of the span, duration as a fraction, magnitude or None)
FAULTS: tuple[tuple[str, str, str, float, float, float | None], ...] = (
    ("spike", "motor-00", "vibration_rms", 0.45, 0.0, None),
    ("level_shift", "pump-0", "pressure", 0.60, 0.10, -1.5),
    ("noise_burst", "motor-01", "motor_current", 0.74, 0.06, None),
    ("intermittent", "pump-0", "flow", 0.86, 0.08, None),
)
#: Seconds of the shortest fault (a spike lasts a few samples).
MIN_FAULT_S = 3.0


def demo_scenario(duration_s: float, speed: float, seed: int = 7, malformed: int = 5) -> Scenario:
    """The scenario a demo of ``duration_s`` wall seconds at ``speed`` simulated seconds per second plays."""
    span = max(60.0, duration_s * speed)
    raw: dict[str, Any] = {
        "name": "demo",
        "description": "Two motors and a pump: a vibration spike, a pressure drop, a noisy current, a flow that "
                       "drops out now and then",
        "seed": seed,
        "start": "2024-06-03T06:00:00Z",
        "duration": span,
        "devices": [
            {"name": "motor-{i:02d}", "count": 2, "kind": "motor", "rate_hz": 1,
             "regime": {"step_every": "3h", "stop_every": "0s"}},
            {"name": "pump-{i}", "count": 1, "kind": "pump", "rate_hz": 1,
             "regime": {"step_every": "3h", "stop_every": "0s"}},
        ],
        "faults": [],
        "firmware": {"jitter_ms": 0, "loss": 0.0, "malformed": {"count": malformed}},
        "payload": {"format": "json", "batch": 1, "qos": 1},
    }
    for kind, device, channel, at, length, magnitude in FAULTS:
        fault: dict[str, Any] = {"kind": kind, "device": device, "channel": channel, "at": round(at * span, 3),
                                 "duration": round(max(MIN_FAULT_S, length * span), 3)}
        if magnitude is not None:
            fault["magnitude"] = magnitude
        raw["faults"].append(fault)
    return from_dict(raw, "demo")
