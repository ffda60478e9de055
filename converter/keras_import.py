"""Turn a Keras model into the bundle's layer list and weights, or refuse it with a reason.

Only TensorFlow/Keras-facing code lives here. Models are flattened into one linear chain of
per-time-step operations; anything that needs more than the current sample and the carried state
(looking back over a window, looking ahead, mixing branches) is refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_lstm.errors import UnsupportedModelError
from edge_lstm.runtime import activations
from edge_lstm.runtime.spec import LayerSpec, ModelSpec

#: Layers that do nothing at inference time.
INFERENCE_IDENTITY = {
    "Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "ActivityRegularization", "InputLayer",
}

#: Layers refused outright, with the reason a user needs to hear.
WHY_NOT = {
    "Bidirectional": "it reads the window backwards, so every output depends on samples that have not arrived yet",
    "Attention": "attention looks at the whole window at once",
    "AdditiveAttention": "attention looks at the whole window at once",
    "MultiHeadAttention": "attention looks at the whole window at once",
    "GlobalAveragePooling1D": "pooling over time needs the whole window",
    "GlobalMaxPooling1D": "pooling over time needs the whole window",
    "MaxPooling1D": "pooling over time needs several past samples",
    "AveragePooling1D": "pooling over time needs several past samples",
    "RepeatVector": "repeating a summary over a new sequence (an encoder-decoder) is not a per-sample model",
    "Masking": "masking skips samples by value, which a streaming daemon cannot know to do",
    "Permute": "permuting axes mixes time with features",
    "Cropping1D": "cropping drops samples from the window",
    "ZeroPadding1D": "padding adds samples to the window",
    "UpSampling1D": "upsampling adds samples to the window",
    "ConvLSTM1D": "a convolutional LSTM needs several past samples per step",
}


def _refuse(layer: Any, why: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"layer {layer.name!r} ({type(layer).__name__}) cannot be converted: {why}"
    )


def _np(variable: Any) -> np.ndarray:
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable, dtype=np.float32)


def _activation_name(layer: Any, value: Any) -> str:
    if callable(value):
        value = getattr(value, "__name__", repr(value))
    try:
        return activations.canonical(value)
    except ValueError as exc:
        raise _refuse(layer, str(exc)) from None


def linearize(model: Any) -> list[Any]:
    """The layers of a Sequential or single-path functional model, input to output, flattened."""
    import keras

    if isinstance(model, keras.Sequential):
        chain = list(model.layers)
    elif hasattr(model, "_inbound_nodes") and type(model).__name__ == "Functional":
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise UnsupportedModelError(
                f"model {model.name!r} has {len(model.inputs)} inputs and {len(model.outputs)} outputs: "
                "only single-input, single-output models can be converted"
            )
        chain = []
        tensor = model.outputs[0]
        while True:
            op, node_index, _ = tensor._keras_history
            if type(op).__name__ == "InputLayer":
                break
            node = op._inbound_nodes[node_index]
            inputs = list(node.input_tensors)
            if len(inputs) != 1:
                raise _refuse(op, f"it takes {len(inputs)} inputs; only single-path models can be converted")
            chain.append(op)
            tensor = inputs[0]
        chain.reverse()
    else:
        raise UnsupportedModelError(
            f"model {getattr(model, 'name', model)!r} is a subclassed {type(model).__name__}: "
            "rebuild it as a Sequential or functional model to convert it"
        )
    flat: list[Any] = []
    for layer in chain:
        if isinstance(layer, keras.Model):
            flat.extend(linearize(layer))
        else:
            flat.append(layer)
    return flat


@dataclass
class _Builder:
    """Accumulates per-step layers while tracking width and whether time is still an axis."""

    width: int
    has_time: bool = True
    layers: list[LayerSpec] = field(default_factory=list)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    # A leading affine (normalisation) folds into the bundle's input normalisation.
    input_scale: np.ndarray | None = None
    input_offset: np.ndarray | None = None
    output_shape: tuple[int, ...] | None = None

    def add(self, name: str, kind: str, units: int, params: dict[str, np.ndarray], **attrs: Any) -> None:
        if self.output_shape is not None:
            raise UnsupportedModelError(f"layer {name!r} follows a Reshape; only a final Reshape is supported")
        spec = LayerSpec(index=len(self.layers), name=name, kind=kind, input_dim=self.width, units=units, **attrs)
        for param, shape in spec.weight_shapes().items():
            arr = params[param]
            assert arr.shape == shape, (name, param, arr.shape, shape)
            self.weights[spec.weight_key(param)] = arr.astype(np.float32)
        self.layers.append(spec)
        self.width = units

    def affine(self, name: str, scale: np.ndarray, offset: np.ndarray) -> None:
        scale = np.broadcast_to(np.asarray(scale, np.float32), (self.width,)).copy()
        offset = np.broadcast_to(np.asarray(offset, np.float32), (self.width,)).copy()
        if not self.layers:
            prev_s = self.input_scale if self.input_scale is not None else np.ones(self.width, np.float32)
            prev_o = self.input_offset if self.input_offset is not None else np.zeros(self.width, np.float32)
            self.input_scale, self.input_offset = prev_s * scale, prev_o * scale + offset
        else:
            self.add(name, "affine", self.width, {"scale": scale, "offset": offset})


def _feature_axis_only(layer: Any, axis: Any) -> None:
    axes = [axis] if isinstance(axis, int) else list(axis or [])
    if axes not in ([-1], [2]):
        raise _refuse(layer, f"it normalises over axis {axis}; only the feature axis (-1) can be folded")


def _convert_layer(b: _Builder, layer: Any) -> None:
    import keras

    kind = type(layer).__name__
    cfg = layer.get_config()
    if kind in INFERENCE_IDENTITY:
        return
    if kind in WHY_NOT:
        raise _refuse(layer, WHY_NOT[kind])
    if kind == "TimeDistributed":
        if not b.has_time:
            raise _refuse(layer, "it wraps a layer over time, but time has already been reduced")
        _convert_layer(b, layer.layer)
        return
    if kind in ("LSTM", "GRU", "SimpleRNN"):
        if not b.has_time:
            raise _refuse(layer, "it needs a sequence, but the previous recurrent layer returns only its last step")
        if cfg.get("go_backwards"):
            raise _refuse(layer, "go_backwards=True reads the window from the end")
        if cfg.get("return_state"):
            raise _refuse(layer, "return_state=True exposes state as extra outputs")
        cell = layer.cell
        units = int(cfg["units"])
        gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[kind]
        params = {"kernel": _np(cell.kernel), "recurrent_kernel": _np(cell.recurrent_kernel)}
        bias = _np(cell.bias) if cfg.get("use_bias", True) else np.zeros(gates * units, np.float32)
        attrs: dict[str, Any] = {"activation": _activation_name(layer, cfg.get("activation", "tanh"))}
        if kind == "LSTM":
            attrs["recurrent_activation"] = _activation_name(layer, cfg.get("recurrent_activation", "sigmoid"))
        if kind == "GRU":
            attrs["recurrent_activation"] = _activation_name(layer, cfg.get("recurrent_activation", "sigmoid"))
            attrs["reset_after"] = bool(cfg.get("reset_after", True))
            if bias.ndim == 2:  # reset_after: [input bias, recurrent bias]
                params["bias"], params["recurrent_bias"] = bias[0], bias[1]
            else:
                params["bias"], params["recurrent_bias"] = bias, np.zeros_like(bias)
        else:
            params["bias"] = bias
        b.add(layer.name, {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn"}[kind], units, params, **attrs)
        b.has_time = bool(cfg.get("return_sequences", False))
        return
    if kind in ("Dense", "Conv1D"):
        if kind == "Conv1D":
            (size,) = tuple(cfg["kernel_size"])
            if size != 1:
                raise _refuse(layer, f"kernel_size {size} > 1 needs several past samples "
                                     "per output; only kernel_size=1 (a per-step Dense) streams")
            if tuple(cfg["strides"]) != (1,) or cfg.get("groups", 1) != 1 or cfg["data_format"] != "channels_last":
                raise _refuse(layer, "only strides=1, groups=1, channels_last 1x1 convolutions stream")
        kernel = _np(layer.kernel).reshape(b.width, -1)
        units = kernel.shape[1]
        bias = _np(layer.bias) if cfg.get("use_bias", True) else np.zeros(units, np.float32)
        b.add(layer.name, "dense", units, {"kernel": kernel, "bias": bias},
              activation=_activation_name(layer, cfg.get("activation")))
        return
    if kind in ("Activation", "ReLU", "Softmax"):
        if kind == "ReLU":
            if cfg.get("negative_slope", 0.0) or cfg.get("threshold", 0.0):
                raise _refuse(layer, "only ReLU with negative_slope=0 and threshold=0 is supported")
            name = "relu6" if cfg.get("max_value") == 6.0 else "relu"
            if cfg.get("max_value") not in (None, 6.0):
                raise _refuse(layer, f"ReLU max_value={cfg['max_value']} is not supported (only None or 6)")
        elif kind == "Softmax":
            _feature_axis_only(layer, cfg.get("axis", -1))
            name = "softmax"
        else:
            name = _activation_name(layer, cfg["activation"])
        b.add(layer.name, "activation", b.width, {}, activation=name)
        return
    if kind == "Normalization":
        _feature_axis_only(layer, cfg.get("axis", -1))
        std = np.maximum(np.sqrt(_np(layer.variance).reshape(-1)), keras.backend.epsilon())
        mean = _np(layer.mean).reshape(-1)
        if cfg.get("invert"):
            b.affine(layer.name, std, mean)
        else:
            b.affine(layer.name, 1.0 / std, -mean / std)
        return
    if kind == "Rescaling":
        b.affine(layer.name, np.asarray(cfg["scale"], np.float32), np.asarray(cfg["offset"], np.float32))
        return
    if kind == "BatchNormalization":
        _feature_axis_only(layer, cfg.get("axis", -1))
        gamma = _np(layer.gamma) if cfg.get("scale", True) else np.ones(b.width, np.float32)
        beta = _np(layer.beta) if cfg.get("center", True) else np.zeros(b.width, np.float32)
        inv = gamma / np.sqrt(_np(layer.moving_variance) + cfg["epsilon"])
        b.affine(layer.name, inv, beta - _np(layer.moving_mean) * inv)
        return
    if kind in ("Flatten", "Reshape"):
        if b.has_time:
            raise _refuse(layer, "it folds the time axis into features, which needs the whole window")
        if kind == "Reshape":
            b.output_shape = tuple(int(d) for d in cfg["target_shape"])
        return
    if kind == "Lambda":
        raise _refuse(layer, "a Lambda layer is arbitrary Python code; replace it with a built-in layer")
    raise _refuse(layer, "edge-lstm does not know this layer, so it cannot promise to run it one sample at a time")


def import_keras_model(model: Any, feature_names: list[str] | None = None) -> tuple[ModelSpec, dict[str, np.ndarray]]:
    """Convert a loaded Keras model into a :class:`ModelSpec` and its float32 weights."""
    shape = tuple(model.input_shape) if not isinstance(model.input_shape, list) else None
    if shape is None or len(shape) != 3 or shape[-1] is None:
        raise UnsupportedModelError(
            f"model input shape is {model.input_shape}; edge-lstm needs (batch, time, features) with a known "
            "feature count"
        )
    window, features = shape[1], int(shape[2])
    b = _Builder(width=features)
    for layer in linearize(model):
        _convert_layer(b, layer)
    if not b.layers:
        raise UnsupportedModelError("the model has no layers that compute anything")
    spec = ModelSpec(
        features=features,
        layers=tuple(b.layers),
        input_scale=b.input_scale if b.input_scale is not None else np.ones(features, np.float32),
        input_offset=b.input_offset if b.input_offset is not None else np.zeros(features, np.float32),
        output_shape=b.output_shape or (b.width,),
        feature_names=tuple(feature_names or ()),
        window=int(window) if window else None,
        sequence_output=b.has_time,
    )
    if int(np.prod(spec.output_shape)) != spec.outputs:
        raise UnsupportedModelError(f"final Reshape to {spec.output_shape} does not hold {spec.outputs} outputs")
    return spec, b.weights
