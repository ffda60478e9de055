"""The int8 scheme (quantised weights, int16 activations) and the check that a bundle's int8 arrays fit it.

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

from edge_lstm.runtime.spec import LayerSpec, ModelSpec

QMAX = 127
ACT_QMAX = 32767
#: Layer kinds whose input and recurrent products are fused into one (see the module docstring).
FUSED_KINDS = ("lstm", "simple_rnn")
SCHEME = "int8-sym-per-channel-weights/int16-sym-per-tensor-activations/int32-acc/float32-cell"


def bias_shape(layer: LayerSpec) -> tuple[int, ...]:
    return layer.weight_shapes()["bias"]


def check_int8(spec: ModelSpec, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Raise ValueError naming the first int8 array or parameter that does not fit the model."""
    if len(params.get("layers", [])) != len(spec.layers):
        raise ValueError("quantization.int8.layers does not have one entry per layer")
    for layer, entry in zip(spec.layers, params["layers"], strict=True):
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
