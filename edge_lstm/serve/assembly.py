"""Assembling multi-feature samples from channels that arrive on separate topics. Pure; no I/O.

A multi-feature model (vibration, temperature, current of one motor) needs one vector per step,
but nodes usually publish each channel on its own topic. The assembler holds the latest value of
every channel of a stream and emits a full vector each time the *clock* channel (the first
feature) arrives, once every channel has been seen: sample-and-hold, so channels with jittered
or slightly different timestamps still line up.

>>> a = FeatureAssembler(["vib", "temp"])
>>> a.add("m1", "temp", Sample(1.0, (40.0,)))
[]
>>> a.add("m1", "vib", Sample(2.0, (3.5,)))
[Sample(ts=2.0, values=(3.5, 40.0))]
"""

from __future__ import annotations

from edge_lstm.serve.payloads import PayloadError, Sample


class FeatureAssembler:
    def __init__(self, features: list[str]) -> None:
        if not features or len(set(features)) != len(features):
            raise ValueError("features must be a non-empty list of distinct channel names")
        self.features = list(features)
        self.position = {name: i for i, name in enumerate(features)}
        self.held: dict[str, list[float | None]] = {}

    def add(self, stream: str, feature: str, sample: Sample) -> list[Sample]:
        """Take one channel's sample; return the assembled sample it completes, if any."""
        if feature not in self.position:
            raise PayloadError(f"channel {feature!r} is not one of the model's features {self.features}")
        if len(sample.values) != 1:
            raise PayloadError(f"channel {feature!r} carries {len(sample.values)} values, expected 1")
        held = self.held.setdefault(stream, [None] * len(self.features))
        held[self.position[feature]] = sample.values[0]
        if feature != self.features[0] or any(v is None for v in held):
            return []
        return [Sample(sample.ts, tuple(float(v) for v in held))]

    def forget(self, streams: list[str]) -> None:
        """Drop what is held of ``streams`` (evicted)."""
        for stream in streams:
            self.held.pop(stream, None)
