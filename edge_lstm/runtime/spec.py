"""The model description a bundle carries: layers, shapes, input normalisation, output meaning.

This module parses and validates the ``model`` part of ``manifest.json`` into plain dataclasses
that the kernels consume. It does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_lstm.errors import BundleError
from edge_lstm.runtime import activations

#: Layer kinds the runtime can step, with the recurrent ones' gate count.
RECURRENT_GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}
LAYER_KINDS = ("dense", "affine", "activation", *RECURRENT_GATES)


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the streaming stack, applied to one time step of every stream."""

    index: int
    name: str
    kind: str
    input_dim: int
    units: int
    activation: str = "linear"
    recurrent_activation: str = "sigmoid"
    reset_after: bool = True

    @property
    def is_recurrent(self) -> bool:
        return self.kind in RECURRENT_GATES

    def weight_key(self, param: str) -> str:
        """Name of one of this layer's arrays in ``weights.npz``."""
        return f"layers.{self.index}.{param}"

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """The arrays this layer needs, by parameter name, with their shapes."""
        d, u = self.input_dim, self.units
        if self.kind == "dense":
            return {"kernel": (d, u), "bias": (u,)}
        if self.kind == "affine":
            return {"scale": (u,), "offset": (u,)}
        if self.kind == "activation":
            return {}
        g = RECURRENT_GATES[self.kind]
        shapes = {"kernel": (d, g * u), "recurrent_kernel": (u, g * u), "bias": (g * u,)}
        if self.kind == "gru":
            shapes["recurrent_bias"] = (g * u,)
        return shapes

    def state_names(self) -> tuple[str, ...]:
        """Per-stream state vectors this layer carries (each ``units`` long)."""
        if self.kind == "lstm":
            return ("h", "c")
        return ("h",) if self.is_recurrent else ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.kind,
            "input_dim": self.input_dim,
            "units": self.units,
            "activation": self.activation,
        }
        if self.is_recurrent:
            out["recurrent_activation"] = self.recurrent_activation
        if self.kind == "gru":
            out["reset_after"] = self.reset_after
        return out


@dataclass(frozen=True)
class StateSlot:
    """Where one state vector of one layer lives in a stream's flat state row."""

    key: str  # "<layer name>/h"
    layer_index: int
    offset: int
    size: int


@dataclass(frozen=True)
class ModelSpec:
    """Everything the runtime needs to know about a model, except its weights."""

    features: int
    layers: tuple[LayerSpec, ...]
    input_scale: np.ndarray
    input_offset: np.ndarray
    output_shape: tuple[int, ...]
    feature_names: tuple[str, ...] = ()
    window: int | None = None
    sequence_output: bool = False
    state_slots: tuple[StateSlot, ...] = field(init=False)

    def __post_init__(self) -> None:
        slots, offset = [], 0
        for layer in self.layers:
            for name in layer.state_names():
                slots.append(StateSlot(f"{layer.name}/{name}", layer.index, offset, layer.units))
                offset += layer.units
        object.__setattr__(self, "state_slots", tuple(slots))

    @property
    def outputs(self) -> int:
        return self.layers[-1].units if self.layers else self.features

    @property
    def state_size(self) -> int:
        return sum(s.size for s in self.state_slots)

    def slot(self, layer_index: int, name: str) -> StateSlot:
        layer = self.layers[layer_index]
        return next(s for s in self.state_slots if s.key == f"{layer.name}/{name}")

    def to_json(self) -> dict[str, Any]:
        return {
            "input": {
                "features": self.features,
                "feature_names": list(self.feature_names),
                "window": self.window,
                "normalization": {
                    "scale": self.input_scale.astype(float).tolist(),
                    "offset": self.input_offset.astype(float).tolist(),
                },
            },
            "layers": [layer.to_json() for layer in self.layers],
            "output": {
                "size": self.outputs,
                "shape": list(self.output_shape),
                "sequence": self.sequence_output,
            },
        }


def _require(d: dict[str, Any], key: str, where: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise BundleError(f"manifest.json: {where} has no {key!r}")
    return d[key]


def _positive_int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise BundleError(f"manifest.json: {where} must be a positive integer, got {value!r}")
    return value


def parse_model(manifest: dict[str, Any]) -> ModelSpec:
    """Validate the model part of a manifest and build a :class:`ModelSpec`."""
    inp = _require(manifest, "input", "the manifest")
    features = _positive_int(_require(inp, "features", "input"), "input.features")
    norm = inp.get("normalization") or {}
    scale = np.asarray(norm.get("scale", [1.0] * features), dtype=np.float32)
    offset = np.asarray(norm.get("offset", [0.0] * features), dtype=np.float32)
    if scale.shape != (features,) or offset.shape != (features,):
        raise BundleError(
            f"manifest.json: input.normalization scale/offset must each have {features} values, "
            f"got {scale.shape} and {offset.shape}"
        )
    if not (np.isfinite(scale).all() and np.isfinite(offset).all()):
        raise BundleError("manifest.json: input.normalization contains NaN or inf")
    raw_layers = _require(manifest, "layers", "the manifest")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise BundleError("manifest.json: layers must be a non-empty list")
    layers, width = [], features
    for i, raw in enumerate(raw_layers):
        layers.append(_parse_layer(i, raw, width))
        width = layers[-1].units
    out = _require(manifest, "output", "the manifest")
    size = _positive_int(_require(out, "size", "output"), "output.size")
    if size != width:
        raise BundleError(f"manifest.json: output.size is {size} but the last layer has {width} units")
    shape = tuple(out.get("shape") or [size])
    if int(np.prod(shape)) != size:
        raise BundleError(f"manifest.json: output.shape {list(shape)} does not hold {size} values")
    window = inp.get("window")
    return ModelSpec(
        features=features,
        layers=tuple(layers),
        input_scale=scale,
        input_offset=offset,
        output_shape=shape,
        feature_names=tuple(inp.get("feature_names") or ()),
        window=window if isinstance(window, int) and window > 0 else None,
        sequence_output=bool(out.get("sequence", False)),
    )


def _parse_layer(index: int, raw: dict[str, Any], input_dim: int) -> LayerSpec:
    where = f"layers[{index}]"
    kind = _require(raw, "type", where)
    if kind not in LAYER_KINDS:
        raise BundleError(f"manifest.json: {where} has unknown type {kind!r} (known: {', '.join(LAYER_KINDS)})")
    declared = _positive_int(_require(raw, "input_dim", where), f"{where}.input_dim")
    if declared != input_dim:
        raise BundleError(f"manifest.json: {where} expects {declared} inputs but receives {input_dim}")
    units = _positive_int(_require(raw, "units", where), f"{where}.units")
    if kind in ("affine", "activation") and units != input_dim:
        raise BundleError(f"manifest.json: {where} ({kind}) must keep its width {input_dim}, says {units}")
    try:
        act = activations.canonical(raw.get("activation", "tanh" if kind in RECURRENT_GATES else "linear"))
        rec_act = activations.canonical(raw.get("recurrent_activation", "sigmoid"))
    except ValueError as exc:
        raise BundleError(f"manifest.json: {where}: {exc}") from None
    if kind in RECURRENT_GATES and (act in activations.VECTOR_WISE or rec_act in activations.VECTOR_WISE):
        raise BundleError(f"manifest.json: {where}: softmax cannot be a recurrent activation")
    return LayerSpec(
        index=index,
        name=str(raw.get("name") or f"{kind}_{index}"),
        kind=kind,
        input_dim=input_dim,
        units=units,
        activation=act,
        recurrent_activation=rec_act,
        reset_after=bool(raw.get("reset_after", True)),
    )


def check_weights(spec: ModelSpec, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Check every array the layers need is present, float, finite and of the right shape.

    Returns the arrays as C-contiguous float32.
    """
    checked = {}
    for layer in spec.layers:
        for param, shape in layer.weight_shapes().items():
            key = layer.weight_key(param)
            if key not in weights:
                raise BundleError(f"weights.npz has no array {key!r} ({layer.kind} layer {layer.name!r})")
            arr = weights[key]
            if arr.shape != shape:
                raise BundleError(f"weights.npz: {key!r} has shape {arr.shape}, layer {layer.name!r} needs {shape}")
            if arr.dtype.kind != "f":
                raise BundleError(f"weights.npz: {key!r} has dtype {arr.dtype}, expected a float type")
            if not np.isfinite(arr).all():
                raise BundleError(f"weights.npz: {key!r} contains NaN or inf")
            checked[key] = np.ascontiguousarray(arr, dtype=np.float32)
    return checked
