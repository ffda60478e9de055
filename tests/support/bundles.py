"""Hand-made bundles with random weights, for tests that need no TensorFlow."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_lstm.runtime.bundle import Bundle, bundle_from_parts, write_bundle
from edge_lstm.runtime.spec import parse_model

#: A stack touching every layer kind and gate variant.
MIXED_MODEL = {
    "input": {"features": 2, "normalization": {"scale": [0.5, 2.0], "offset": [0.1, -0.2]}},
    "layers": [
        {"type": "lstm", "name": "lstm_a", "input_dim": 2, "units": 8},
        {"type": "affine", "name": "bn", "input_dim": 8, "units": 8},
        {"type": "gru", "name": "gru_plain", "input_dim": 8, "units": 6, "reset_after": False},
        {"type": "gru", "name": "gru_after", "input_dim": 6, "units": 5, "reset_after": True},
        {"type": "simple_rnn", "name": "rnn", "input_dim": 5, "units": 4, "activation": "tanh"},
        {"type": "activation", "name": "act", "input_dim": 4, "units": 4, "activation": "silu"},
        {"type": "dense", "name": "head", "input_dim": 4, "units": 3, "activation": "softmax"},
    ],
    "output": {"size": 3},
}


def random_weights(model: dict, seed: int = 0, scale: float = 0.5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    spec = parse_model(model)
    return {
        layer.weight_key(p): rng.normal(0.0, scale, shape).astype(np.float32)
        for layer in spec.layers
        for p, shape in layer.weight_shapes().items()
    }


def random_bundle(model: dict = MIXED_MODEL, seed: int = 0) -> Bundle:
    return bundle_from_parts(model, random_weights(model, seed))


def write_random_bundle(path: Path, model: dict = MIXED_MODEL, seed: int = 0) -> Path:
    return write_bundle(path, {"model": model}, random_weights(model, seed))


def lstm_model(features: int = 1, units: tuple[int, ...] = (16, 8), outputs: int = 1) -> dict:
    layers, width = [], features
    for i, u in enumerate(units):
        layers.append({"type": "lstm", "name": f"lstm_{i}", "input_dim": width, "units": u})
        width = u
    layers.append({"type": "dense", "name": "out", "input_dim": width, "units": outputs})
    return {"input": {"features": features}, "layers": layers, "output": {"size": outputs}}


def small_daemon(tmp_path: Path, **settings: str):
    """An in-process Daemon (not connected) on a small random LSTM bundle written once under ``tmp_path``; ``settings``:
    ``{"section.key": "value"}`` over the defaults."""
    from edge_lstm.serve.config import load_config
    from edge_lstm.serve.daemon import Daemon

    path = tmp_path / "b"
    if not path.exists():
        write_random_bundle(path, lstm_model(1, (4,)))
    return Daemon(load_config(None, {"model.bundle": str(path), **settings}))
