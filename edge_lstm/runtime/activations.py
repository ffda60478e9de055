"""Element-wise activations, defined exactly as Keras 3 defines them.

Each activation has a NumPy implementation (the specification) and an integer code
that the Numba kernels switch on.

>>> import numpy as np
>>> apply("hard_sigmoid", np.array([-4.0, 0.0, 1.5], dtype=np.float32)).tolist()
[0.0, 0.5, 0.75]
"""

from __future__ import annotations

import math

import numpy as np

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _gelu(x: np.ndarray) -> np.ndarray:
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return (0.5 * x * (1.0 + erf(x * _SQRT1_2))).astype(x.dtype)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_NUMPY = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "leaky_relu": lambda x: np.where(x >= 0.0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0.0, x, np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x: _SELU_SCALE * np.where(x > 0.0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "hard_sigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    "hard_silu": lambda x: x * np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    "silu": lambda x: x * _sigmoid(x),
    "softplus": _softplus,
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "exponential": np.exp,
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "log_sigmoid": lambda x: -_softplus(-x),
    "gelu": _gelu,
    "softmax": _softmax,
}

ALIASES = {"swish": "silu", "hard_swish": "hard_silu", None: "linear"}

#: Activation name -> integer code used by the compiled kernels (order is part of no file format).
CODES = {name: code for code, name in enumerate(_NUMPY)}

#: Activations that act on the whole vector rather than element by element.
VECTOR_WISE = frozenset({"softmax"})

SUPPORTED = tuple(sorted(_NUMPY))


def canonical(name: str | None) -> str:
    """Return the canonical name of an activation, or raise ValueError naming it."""
    name = ALIASES.get(name, name)
    if name not in _NUMPY:
        raise ValueError(f"activation {name!r} is not supported (supported: {', '.join(SUPPORTED)})")
    return name


def apply(name: str, x: np.ndarray) -> np.ndarray:
    """Apply activation ``name`` to ``x`` (last axis is the feature axis), keeping its dtype."""
    return np.asarray(_NUMPY[canonical(name)](x), dtype=x.dtype)
