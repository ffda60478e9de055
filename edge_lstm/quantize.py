"""int8 quantisation of a bundle's weights and activations (pure NumPy, no I/O).

Scheme, chosen for accuracy at the same speed:

- weights: symmetric int8 per output channel (``q = round(w / s)``, ``s = max|w_col| / 127``),
  stored transposed ``(outputs, inputs)`` so each output is a contiguous int8 dot product;
- activations entering a matrix product: symmetric int8 per tensor, scales calibrated as the
  largest magnitude seen on the calibration windows (layer inputs, and the recurrent h);
- LSTM and SimpleRNN layers fuse ``[x, h]`` into one int8 vector (each part with its own scale)
  against one fused matrix ``[s_x W; s_h U]`` quantised per output channel, so each gate is one
  int8 dot product of length ``inputs + units``;
- accumulation in int32, then one float rescale per output channel, bias added in float;
- gate non-linearities and the LSTM cell state c in float32: an int8 c loses too much
  (c integrates over the whole history; see docs/benchmarks.md for the measured errors).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_lstm.bundle import Bundle
from edge_lstm.kernels.reference import ReferenceKernel

QMAX = 127
#: Layer kinds whose input and recurrent products are fused into one (see the module docstring).
FUSED_KINDS = ("lstm", "simple_rnn")
SCHEME = "int8-sym-per-channel-weights/int8-sym-per-tensor-activations/int32-acc/float32-cell"


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
    ranges = [{"input": 0.0, "state": 0.0} for _ in spec.layers]
    state = kernel.new_state(windows.shape[0])
    for t in range(windows.shape[1]):
        v = windows[:, t].astype(np.float32) * spec.input_scale + spec.input_offset
        for i, layer in enumerate(spec.layers):
            ranges[i]["input"] = max(ranges[i]["input"], float(np.abs(v).max()))
            v = kernel._layer(layer, v, state)
            if layer.is_recurrent:
                ranges[i]["state"] = max(ranges[i]["state"], float(np.abs(v).max()))
    return ranges


def _scale(absmax: float) -> float:
    return absmax / QMAX if absmax > 0 else 1.0 / QMAX


def quantize_int8(bundle: Bundle, windows: np.ndarray) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Calibrate on ``windows`` (N, T, F) and return the manifest's int8 section and its arrays."""
    ranges = activation_ranges(bundle, windows)
    layers, arrays = [], {}
    for layer, r in zip(bundle.spec.layers, ranges, strict=True):
        entry: dict[str, Any] = {"input_absmax": r["input"], "input_scale": _scale(r["input"])}
        if layer.is_recurrent:
            entry["state_absmax"] = r["state"]
            entry["state_scale"] = _scale(r["state"])
        w = bundle.weights
        if layer.kind in FUSED_KINDS:
            fused = np.concatenate([w[layer.weight_key("kernel")] * np.float32(entry["input_scale"]),
                                    w[layer.weight_key("recurrent_kernel")] * np.float32(entry["state_scale"])])
            key = layer.weight_key("fused")
            arrays[f"{key}.q"], arrays[f"{key}.scale"] = quantize_columns(fused)
        else:
            for param in ("kernel", "recurrent_kernel"):
                key = layer.weight_key(param)
                if key in w:
                    arrays[f"{key}.q"], arrays[f"{key}.scale"] = quantize_columns(w[key])
        layers.append(entry)
    return {"scheme": SCHEME, "calibration_windows": int(windows.shape[0]), "layers": layers}, arrays


def check_int8(bundle: Bundle, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Raise ValueError naming the first int8 array or parameter that does not fit the model."""
    if len(params.get("layers", [])) != len(bundle.spec.layers):
        raise ValueError("quantization.int8.layers does not have one entry per layer")
    for layer, entry in zip(bundle.spec.layers, params["layers"], strict=True):
        if not entry.get("input_scale", 0) > 0 or (layer.is_recurrent and not entry.get("state_scale", 0) > 0):
            raise ValueError(f"layer {layer.name!r}: int8 scales must be positive")
        shapes = layer.weight_shapes()
        if layer.kind in FUSED_KINDS:
            shapes = {"fused": (layer.input_dim + layer.units, shapes["kernel"][1])}
        for param, shape in shapes.items():
            if param not in ("kernel", "recurrent_kernel", "fused"):
                continue
            key = layer.weight_key(param)
            q, s = arrays.get(f"{key}.q"), arrays.get(f"{key}.scale")
            if q is None or s is None:
                raise ValueError(f"int8 weights have no {key}.q / {key}.scale")
            if q.shape != shape[::-1] or q.dtype != np.int8 or s.shape != (shape[1],):
                raise ValueError(f"int8 array {key}.q has shape {q.shape} {q.dtype}, expected {shape[::-1]} int8")
