"""The TFLite *streaming step* models: (x, h, c per layer) -> (y, h', c'), built from the bundle.

A Keras 3 LSTM no longer converts to TFLite's fused LSTM op (and int8 conversion of the sequence
model crashes), so the step is written out with plain matmuls and element-wise ops from the
extracted weights, at a fixed batch of 1 (the runtime resizes it to the bank). Inputs are named,
and the representative dataset is fed as dicts keyed by those names: a positional list is
silently matched to the wrong inputs.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np

from edge_lstm.runtime.bundle import Bundle
from edge_lstm.runtime.kernels.reference import ReferenceKernel
from edge_lstm.runtime.spec import LayerSpec

INT8_FILE = "step_int8.tflite"
INT16X8_FILE = "step_int16x8.tflite"
F32_FILE = "step_f32.tflite"


def tensor_names(bundle: Bundle) -> dict[str, str]:
    """State slot key (``"lstm/h"``) -> TFLite input/output name (``"lstm_h"``); plus ``x`` and ``y``."""
    names = {"x": "x", "y": "y"}
    for slot in bundle.spec.state_slots:
        names[slot.key] = "s_" + re.sub(r"[^A-Za-z0-9_]", "_", slot.key)
    return names


def _activation(tf: Any, name: str, v: Any) -> Any:
    table = {
        "linear": lambda x: x,
        "relu": tf.nn.relu,
        "relu6": tf.nn.relu6,
        "tanh": tf.tanh,
        "sigmoid": tf.sigmoid,
        "hard_sigmoid": lambda x: tf.clip_by_value(x / 6.0 + 0.5, 0.0, 1.0),
        "hard_silu": lambda x: x * tf.clip_by_value(x / 6.0 + 0.5, 0.0, 1.0),
        "leaky_relu": lambda x: tf.nn.leaky_relu(x, alpha=0.2),
        "elu": tf.nn.elu,
        "selu": tf.nn.selu,
        "softplus": tf.nn.softplus,
        "softsign": tf.nn.softsign,
        "silu": lambda x: x * tf.sigmoid(x),
        "exponential": tf.exp,
        "gelu": lambda x: tf.nn.gelu(x, approximate=False),
        "softmax": tf.nn.softmax,
        "mish": lambda x: x * tf.tanh(tf.nn.softplus(x)),
        "log_sigmoid": tf.math.log_sigmoid,
    }
    return table[name](v)


def _layer(tf: Any, layer: LayerSpec, w: dict[str, np.ndarray], v: Any, states: dict[str, Any],
           new: dict[str, Any], means: dict[str, np.ndarray]) -> Any:
    def p(name: str) -> Any:
        return tf.constant(w[layer.weight_key(name)])

    mean = means.get(layer.weight_key("input_mean"))
    if mean is not None:
        # Centre the input on its calibration mean and fold mean @ kernel into the bias (in float):
        # the int8 kernel then only multiplies deviations, which keeps offset sensor values precise.
        w = dict(w)
        w[layer.weight_key("bias")] = (w[layer.weight_key("bias")] + mean @ w[layer.weight_key("kernel")]).astype(
            np.float32)
        v = v - tf.constant(mean)

    act = lambda name, t: _activation(tf, name, t)  # noqa: E731
    if layer.kind == "dense":
        return act(layer.activation, tf.matmul(v, p("kernel")) + p("bias"))
    if layer.kind == "affine":
        return v * p("scale") + p("offset")
    if layer.kind == "activation":
        return act(layer.activation, v)
    u, h = layer.units, states[f"{layer.name}/h"]
    if layer.kind == "simple_rnn":
        h_new = act(layer.activation, tf.matmul(v, p("kernel")) + tf.matmul(h, p("recurrent_kernel")) + p("bias"))
    elif layer.kind == "lstm":
        z = tf.matmul(v, p("kernel")) + tf.matmul(h, p("recurrent_kernel")) + p("bias")
        i, f, g, o = tf.split(z, 4, axis=1)
        ra = layer.recurrent_activation
        c_new = act(ra, f) * states[f"{layer.name}/c"] + act(ra, i) * act(layer.activation, g)
        h_new = act(ra, o) * act(layer.activation, c_new)
        new[f"{layer.name}/c"] = c_new
    else:
        kernel, recurrent = w[layer.weight_key("kernel")], w[layer.weight_key("recurrent_kernel")]
        xz = tf.matmul(v, kernel) + p("bias")
        ra = layer.recurrent_activation
        if layer.reset_after:
            hz = tf.matmul(h, recurrent) + p("recurrent_bias")
            z = act(ra, xz[:, :u] + hz[:, :u])
            r = act(ra, xz[:, u : 2 * u] + hz[:, u : 2 * u])
            cand = act(layer.activation, xz[:, 2 * u :] + r * hz[:, 2 * u :])
        else:
            xz = xz + p("recurrent_bias")
            z = act(ra, xz[:, :u] + tf.matmul(h, recurrent[:, :u]))
            r = act(ra, xz[:, u : 2 * u] + tf.matmul(h, recurrent[:, u : 2 * u]))
            cand = act(layer.activation, xz[:, 2 * u :] + tf.matmul(r * h, recurrent[:, 2 * u :]))
        h_new = z * h + (1.0 - z) * cand
    new[f"{layer.name}/h"] = h_new
    return h_new


def input_span(windows: np.ndarray, stream: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per input column, the centre and half-range of what the calibration data holds (a constant column: half-range
    1): the TFLite step models take ``(x - centre) / half_range``, so that one quantisation scale for the whole input
    tensor (TFLite's) resolves every column alike, a count in the thousands beside an hour of the day."""
    x = windows.reshape(-1, windows.shape[-1]).astype(np.float64)
    if stream is not None:
        x = np.concatenate([x, stream.reshape(-1, windows.shape[-1])])
    low, high = x.min(axis=0), x.max(axis=0)
    half = (high - low) / 2
    return ((high + low) / 2).astype(np.float32), np.where(half > 0, half, 1.0).astype(np.float32)


def _step_module(bundle: Bundle, means: dict[str, np.ndarray], centre: np.ndarray, half: np.ndarray
                 ) -> tuple[Any, Any]:
    import tensorflow as tf

    spec, names = bundle.spec, tensor_names(bundle)
    signature = [tf.TensorSpec((1, spec.features), tf.float32, name="x")]
    signature += [tf.TensorSpec((1, s.size), tf.float32, name=names[s.key]) for s in spec.state_slots]

    @tf.autograph.experimental.do_not_convert
    def step(x: Any, *state_args: Any) -> dict[str, Any]:
        states = {s.key: t for s, t in zip(spec.state_slots, state_args, strict=True)}
        # x comes normalised per column (input_span): back to the model's input, folded into its own affine.
        scale = np.asarray(spec.input_scale, np.float32)
        v = x * tf.constant(half * scale) + tf.constant(centre * scale + np.asarray(spec.input_offset, np.float32))
        new: dict[str, Any] = {}
        for layer in spec.layers:
            v = _layer(tf, layer, bundle.weights, v, states, new, means)
        return {"y": v, **{names[key]: t for key, t in new.items()}}

    module = tf.Module()
    module.step = tf.function(step, input_signature=signature)
    return module, module.step.get_concrete_function()


def representative_samples(bundle: Bundle, windows: np.ndarray, count: int = 8000,
                           extremes: int = 8) -> list[dict[str, np.ndarray]]:
    """(x, state) pairs the model really meets: the float reference streamed over the windows. At each step,
    the ``extremes`` windows that reach the largest |input|, |output| and |state| (per state slot) over the
    whole stream, and enough others drawn at random to make about ``count`` samples. A random draw alone, even
    of thousands, can miss a rare spike, whose input (and the states after it) are then clipped to ranges
    calibrated without it (docs/benchmarks.md)."""
    kernel, spec, names = ReferenceKernel(bundle), bundle.spec, tensor_names(bundle)
    n, steps = windows.shape[0], windows.shape[1]
    # A first pass over the stream finds the windows that set each range.
    state = kernel.new_state(n)
    peaks = [np.abs(windows).max(axis=(1, 2)), np.zeros(n)] + [np.zeros(n) for _ in spec.state_slots]
    for t in range(steps):
        for k, s in enumerate(spec.state_slots):  # the state this step starts from: a sample's input
            peaks[2 + k] = np.maximum(peaks[2 + k], np.abs(state[:, s.offset : s.offset + s.size]).max(axis=1))
        y = kernel.step(state, np.ascontiguousarray(windows[:, t], dtype=np.float32))
        peaks[1] = np.maximum(peaks[1], np.abs(y).max(axis=1))
    always = np.unique(np.concatenate([np.argsort(peak)[::-1][:extremes] for peak in peaks]))
    others = np.setdiff1d(np.arange(n), always)
    keep = max(1, count // steps - always.size)
    state = kernel.new_state(n)
    seen: list[dict[str, np.ndarray]] = []
    rng = np.random.default_rng(0)
    for t in range(steps):
        drawn = rng.choice(others, size=min(keep, others.size), replace=False)
        for i in np.concatenate([always, drawn]):
            sample = {"x": windows[i : i + 1, t].astype(np.float32)}
            for s in spec.state_slots:
                sample[names[s.key]] = state[i : i + 1, s.offset : s.offset + s.size].copy()
            seen.append(sample)
        kernel.step(state, np.ascontiguousarray(windows[:, t], dtype=np.float32))
    return seen


def build_tflite(bundle: Bundle, windows: np.ndarray, means: dict[str, np.ndarray] | None = None,
                 stream: np.ndarray | None = None) -> tuple[dict[str, bytes], dict[str, list[float]]]:
    """Convert the step to ``step_f32.tflite`` and two full-integer models with int8 weights:
    ``step_int8.tflite`` (int8 activations) and ``step_int16x8.tflite`` (int16 activations, so the
    cell state keeps 16 bits, as TFLite's own integer LSTM does). ``means`` (``layers.<i>.input_mean``
    from :func:`edge_lstm.runtime.quantize.quantize_int8`) centre each layer's input as the int8 kernel does;
    ``stream`` (L, F), one long stream whose every step joins the representative samples (a state carried for
    thousands of samples can leave the ranges short windows show). Returns the files and how their input ``x`` is
    normalised (``centre``, ``half_range`` per column: :func:`input_span`)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    centre, half = input_span(windows, stream)
    module, concrete = _step_module(bundle, means or {}, centre, half)
    files = {F32_FILE: tf.lite.TFLiteConverter.from_concrete_functions([concrete], module).convert()}
    samples = representative_samples(bundle, windows)
    if stream is not None:
        samples += representative_samples(bundle, stream[None], count=len(stream), extremes=1)
    for sample in samples:
        sample["x"] = ((sample["x"] - centre) / half).astype(np.float32)
    for name, ops, io_type in (
        (INT8_FILE, tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.int8),
        (INT16X8_FILE, tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, tf.int16),
    ):
        converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: iter(samples)  # dicts keyed by input name
        converter.target_spec.supported_ops = [ops]
        converter.inference_input_type = io_type
        converter.inference_output_type = io_type
        files[name] = converter.convert()
    return files, {"centre": centre.tolist(), "half_range": half.tolist()}
