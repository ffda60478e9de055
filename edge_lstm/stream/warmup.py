"""Compiling the engine's kernels before serving, so that the first real samples are not delayed by it."""

from __future__ import annotations

from dataclasses import replace

from edge_lstm.runtime.model import Model
from edge_lstm.stream.config import EngineConfig
from edge_lstm.stream.engine import SEQUENCE_MIN, Engine
from edge_lstm.stream.sample import Sample


def warm_up(model: Model, config: EngineConfig | None = None) -> None:
    """Compile every kernel the engine uses (a throwaway engine through both of its paths), so that
    the first real samples are not delayed by JIT compilation (seconds on a Pi; cached on disk after)."""
    config = replace(config or EngineConfig(), standardise=0, difference=False, settle=0,
                     detector=replace((config or EngineConfig()).detector, warmup=1))
    engine = Engine(model, config, capacity=2)
    x = (0.0,) * model.features
    engine.process([("a", Sample(1.0, x)), ("b", Sample(1.0, x))])  # a batched round
    engine.process([("a", Sample(2.0 + t, x)) for t in range(SEQUENCE_MIN)])  # one stream's sequence
