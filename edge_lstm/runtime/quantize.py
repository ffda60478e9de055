"""Calibration and int8 quantisation of a bundle's weights (pure NumPy, no I/O), to the scheme of
:mod:`edge_lstm.runtime.int8_scheme`."""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_lstm.runtime.bundle import Bundle
from edge_lstm.runtime.int8_scheme import ACT_QMAX, FUSED_KINDS, QMAX, SCHEME
from edge_lstm.runtime.kernels.reference import ReferenceKernel


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


def activation_ranges(bundle: Bundle, *batches: np.ndarray) -> list[dict[str, float]]:
    """Largest |input| of every layer and |h| of every recurrent layer over the calibration windows (each batch
    (N, T, F) run from zero state: the windows, and a long stream as a batch of one)."""
    kernel = ReferenceKernel(bundle)
    spec = bundle.spec
    inputs: list[list[np.ndarray]] = [[] for _ in spec.layers]
    states: list[float] = [0.0 for _ in spec.layers]
    for windows in batches:
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


def quantize_int8(bundle: Bundle, windows: np.ndarray, stream: np.ndarray | None = None
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Calibrate on ``windows`` (N, T, F), and on one long ``stream`` (L, F) if given (a state carried for thousands
    of samples can leave the ranges short windows show), and return the manifest's int8 section and its arrays."""
    ranges = activation_ranges(bundle, windows, *([] if stream is None else [stream[None]]))
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
