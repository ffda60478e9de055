"""The activations of a compiled kernel, per float and per vector (Numba), by the codes of
:data:`edge_lstm.runtime.activations.CODES`: shared by the float and int8 kernels."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from edge_lstm.runtime import activations
from edge_lstm.runtime.kernels.fastmath import HALF, ONE, ZERO, sigmoid32, tanh32

_A = activations.CODES
LINEAR, RELU, RELU6, LEAKY, ELU, SELU = _A["linear"], _A["relu"], _A["relu6"], _A["leaky_relu"], _A["elu"], _A["selu"]
TANH, SIGMOID, HSIG, HSILU, SILU = _A["tanh"], _A["sigmoid"], _A["hard_sigmoid"], _A["hard_silu"], _A["silu"]
SOFTPLUS, SOFTSIGN, EXP, MISH, LOGSIG = _A["softplus"], _A["softsign"], _A["exponential"], _A["mish"], _A["log_sigmoid"]
GELU, SOFTMAX = _A["gelu"], _A["softmax"]
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


@njit(cache=True, inline="always", error_model="numpy")
def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@njit(_nrt=False, cache=True, error_model="numpy")
def act1(code, x):
    """One activation on one float (softmax is handled on whole vectors)."""
    if code == LINEAR:
        return x
    if code == TANH:
        return tanh32(x)
    if code == SIGMOID:
        return sigmoid32(x)
    if code == RELU:
        return max(x, ZERO)
    if code == HSIG:
        return min(max(x / np.float32(6.0) + HALF, ZERO), ONE)
    if code == RELU6:
        return min(max(x, ZERO), np.float32(6.0))
    if code == LEAKY:
        return x if x >= 0.0 else np.float32(0.2) * x
    if code == ELU:
        return x if x > 0.0 else math.expm1(x)
    if code == SELU:
        return _SELU_SCALE * (x if x > 0.0 else _SELU_ALPHA * math.expm1(x))
    if code == HSILU:
        return x * min(max(x / np.float32(6.0) + HALF, ZERO), ONE)
    if code == SILU:
        return x / (1.0 + math.exp(-x))
    if code == SOFTPLUS:
        return _softplus(x)
    if code == SOFTSIGN:
        return x / (1.0 + abs(x))
    if code == EXP:
        return math.exp(x)
    if code == MISH:
        return x * math.tanh(_softplus(x))
    if code == LOGSIG:
        return -_softplus(-x)
    if code == GELU:
        return 0.5 * x * (1.0 + math.erf(x * 0.7071067811865476))
    return x


@njit(_nrt=False, cache=True, error_model="numpy")
def activate(code, v, n):
    """Apply activation ``code`` to ``v[:n]`` in place."""
    if code == LINEAR:
        return
    if code == SOFTMAX:
        m = v[0]
        for j in range(1, n):
            m = max(m, v[j])
        total = 0.0
        for j in range(n):
            v[j] = math.exp(v[j] - m)
            total += v[j]
        for j in range(n):
            v[j] /= total
    elif code == TANH:
        for j in range(n):
            v[j] = tanh32(v[j])
    elif code == SIGMOID:
        for j in range(n):
            v[j] = sigmoid32(v[j])
    elif code == RELU:
        for j in range(n):
            v[j] = max(v[j], ZERO)
    else:
        for j in range(n):
            v[j] = act1(code, v[j])


@njit(_nrt=False, cache=True, error_model="numpy")
def activate_tile(code, v, ts, n):
    """Apply activation ``code`` to ``v[s, :n]`` for s < ts in place (one call per tile, none for linear)."""
    if code == LINEAR:
        return
    for s in range(ts):
        activate(code, v[s], n)
