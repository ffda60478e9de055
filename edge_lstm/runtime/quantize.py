"""int8 quantisation of a bundle's weights and activations (pure NumPy, no I/O).

Scheme, chosen for accuracy at the same speed:

- weights: symmetric int8 per output channel (``q = round(w / s)``, ``s = max|w_col| / 127``),
  stored transposed ``(outputs, inputs)`` so each output is a contiguous int8 dot product;
- activations entering a matrix product: symmetric int16 per tensor (W8A16, as TFLite's 16x8
  mode), scales calibrated as the largest magnitude seen on the calibration windows (layer
  inputs, and the recurrent h). The integer range is capped per layer so that an int32 sum of
  ``K`` products can never overflow (``qmax * 127 * K < 2**31``). int8 activations were measured
  4-10x less accurate (recurrent state feeds its own rounding error back), at no speed gain:
  the int8 x int8 products are widened to int16 for ``vpmaddwd`` anyway;
- LSTM and SimpleRNN layers store ``[W | U]`` row by row (each part quantised per channel with
  its own scale: one shared scale was measured 2.5x coarser on U) and quantise ``[x, h]`` into one
  integer vector, so each gate reads one contiguous row;
- every layer's input is centred on its calibration mean before it is quantised, and
  ``mean @ W`` (in float, exact) is folded into the bias: the quantised product then only sees
  the deviation, so raw, offset sensor values (a temperature around 60) lose no precision;
- accumulation in int32, then one float rescale per output channel, bias added in float;
- gate non-linearities and the LSTM cell state c in float32: an int8 c loses too much
  (c integrates over the whole history; see docs/benchmarks.md for the measured errors).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_lstm.runtime.bundle import Bundle
from edge_lstm.runtime.kernels.reference import ReferenceKernel
from edge_lstm.runtime.spec import LayerSpec

QMAX = 127
ACT_QMAX = 32767
#: Layer kinds whose input and recurrent products are fused into one (see the module docstring).
FUSED_KINDS = ("lstm", "simple_rnn")
SCHEME = "int8-sym-per-channel-weights/int16-sym-per-tensor-activations/int32-acc/float32-cell"


def quantize_columns(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quantise ``w`` (inputs, outputs) per output column; return (q (outputs, inputs) int8, scale (outputs,)).

    >>> q, s = quantize_columns(np.array([[1.0, -0.5], [-2.0, 0.25]], dtype=np.float32))
    >>> q.tolist(), [round(float(v), 5) for v in s]
    ([[64, -127], [-127, 64]], [0.01575, 0.00394])
    """
    scale = np.abs(w).max(axis=0) / QMAX
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale), -QMAX, QMAX).astype(np.int8)
    return np.ascontiguousarray(q.T), scale


def activation_ranges(bundle: Bundle, windows: np.ndarray) -> list[dict[str, float]]:
    """Largest |input| of every layer and |h| of every recurrent layer over the calibration windows."""
    kernel = ReferenceKernel(bundle)
    spec = bundle.spec
    inputs: list[list[np.ndarray]] = [[] for _ in spec.layers]
    states: list[float] = [0.0 for _ in spec.layers]
    state = kernel.new_state(windows.shape[0])
    for t in range(windows.shape[1]):
        v = windows[:, t].astype(np.float32) * spec.input_scale + spec.input_offset
        for i, layer in enumerate(spec.layers):
            inputs[i].append(v)
            v = kernel._layer(layer, v, state)
            if layer.is_recurrent:
                states[i] = max(states[i], float(np.abs(v).max()))
    ranges = []
    for seen, state_max in zip(inputs, states, strict=True):
        values = np.concatenate(seen)
        mean = values.mean(axis=0)
        ranges.append({"mean": mean, "input": float(np.abs(values - mean).max()), "state": state_max})
    return ranges


def activation_qmax(products: int) -> int:
    """Largest activation integer such that ``products`` int8-weighted terms fit in int32.

    >>> activation_qmax(65), activation_qmax(100_000)
    (32767, 169)
    """
    return int(min(ACT_QMAX, (2**31 - 1) // (QMAX * products)))


def _scale(absmax: float, qmax: int) -> float:
    return absmax / qmax if absmax > 0 else 1.0 / qmax


def quantize_int8(bundle: Bundle, windows: np.ndarray) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Calibrate on ``windows`` (N, T, F) and return the manifest's int8 section and its arrays."""
    ranges = activation_ranges(bundle, windows)
    layers, arrays = [], {}
    for layer, r in zip(bundle.spec.layers, ranges, strict=True):
        products = layer.input_dim + layer.units if layer.kind in FUSED_KINDS else max(layer.input_dim, layer.units)
        qmax = activation_qmax(products)
        entry: dict[str, Any] = {"activation_qmax": qmax, "input_absmax": r["input"],
                                 "input_scale": _scale(r["input"], qmax)}
        w = bundle.weights
        if layer.kind in ("dense", *FUSED_KINDS, "gru"):
            mean = r["mean"].astype(np.float32)
            arrays[f"{layer.weight_key('input_mean')}"] = mean
            arrays[f"{layer.weight_key('bias')}.centred"] = (
                w[layer.weight_key("bias")] + mean.astype(np.float64) @ w[layer.weight_key("kernel")]
            ).astype(np.float32)
        if layer.is_recurrent:
            entry["state_absmax"] = r["state"]
            entry["state_scale"] = _scale(r["state"], qmax)
        if layer.kind in FUSED_KINDS:
            qx, sx = quantize_columns(w[layer.weight_key("kernel")] * np.float32(entry["input_scale"]))
            qh, sh = quantize_columns(w[layer.weight_key("recurrent_kernel")] * np.float32(entry["state_scale"]))
            key = layer.weight_key("fused")
            arrays[f"{key}.q"] = np.ascontiguousarray(np.concatenate([qx, qh], axis=1))
            arrays[f"{key}.scale_x"], arrays[f"{key}.scale_h"] = sx, sh
        else:
            for param in ("kernel", "recurrent_kernel"):
                key = layer.weight_key(param)
                if key in w:
                    arrays[f"{key}.q"], arrays[f"{key}.scale"] = quantize_columns(w[key])
        layers.append(entry)
    return {"scheme": SCHEME, "calibration_windows": int(windows.shape[0]), "layers": layers}, arrays


def bias_shape(layer: LayerSpec) -> tuple[int, ...]:
    return layer.weight_shapes()["bias"]


def check_int8(bundle: Bundle, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Raise ValueError naming the first int8 array or parameter that does not fit the model."""
    if len(params.get("layers", [])) != len(bundle.spec.layers):
        raise ValueError("quantization.int8.layers does not have one entry per layer")
    for layer, entry in zip(bundle.spec.layers, params["layers"], strict=True):
        if not entry.get("input_scale", 0) > 0 or (layer.is_recurrent and not entry.get("state_scale", 0) > 0):
            raise ValueError(f"layer {layer.name!r}: int8 scales must be positive")
        if not 0 < entry.get("activation_qmax", 0) <= ACT_QMAX:
            raise ValueError(f"layer {layer.name!r}: activation_qmax must be in 1..{ACT_QMAX}")
        if layer.kind in ("dense", "gru", *FUSED_KINDS):
            mean, bias = arrays.get(layer.weight_key("input_mean")), arrays.get(f"{layer.weight_key('bias')}.centred")
            if mean is None or mean.shape != (layer.input_dim,) or bias is None or bias.shape != bias_shape(layer):
                raise ValueError(f"layer {layer.name!r}: int8 input_mean / centred bias missing or misshapen")
        shapes = layer.weight_shapes()
        if layer.kind in FUSED_KINDS:
            shapes = {"fused": (layer.input_dim + layer.units, shapes["kernel"][1])}
        for param, shape in shapes.items():
            if param not in ("kernel", "recurrent_kernel", "fused"):
                continue
            key = layer.weight_key(param)
            q = arrays.get(f"{key}.q")
            s = arrays.get(f"{key}.scale_h" if param == "fused" else f"{key}.scale")
            if q is None or s is None:
                raise ValueError(f"int8 weights have no {key}.q or its scales")
            if q.shape != shape[::-1] or q.dtype != np.int8 or s.shape != (shape[1],):
                raise ValueError(f"int8 array {key}.q has shape {q.shape} {q.dtype}, expected {shape[::-1]} int8")
