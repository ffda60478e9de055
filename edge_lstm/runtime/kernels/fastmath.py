"""Branch-free float32 tanh and sigmoid that vectorise inside Numba loops.

``tanh`` is the 13/6 rational approximation Eigen (and so TensorFlow's CPU kernels) use, clamped
at ±7.905; its error against the exact function is below 4e-7. ``sigmoid(x) = 0.5 + 0.5 tanh(x/2)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_CLAMP = np.float32(7.90531110763549805)
_A1, _A3, _A5 = np.float32(4.89352455891786e-03), np.float32(6.37261928875436e-04), np.float32(1.48572235717979e-05)
_A7, _A9 = np.float32(5.12229709037114e-08), np.float32(-8.60467152213735e-11)
_A11, _A13 = np.float32(2.00018790482477e-13), np.float32(-2.76076847742355e-16)
_B0, _B2 = np.float32(4.89352518554385e-03), np.float32(2.26843463243900e-03)
_B4, _B6 = np.float32(1.18534705686654e-04), np.float32(1.19825839466702e-06)
HALF = np.float32(0.5)
ONE = np.float32(1.0)
ZERO = np.float32(0.0)


@njit(cache=True, inline="always", error_model="numpy")
def tanh32(x):
    """tanh(x) for float32 x, |error| < 4e-7, no branches."""
    x = min(max(x, -_CLAMP), _CLAMP)
    x2 = x * x
    p = ((((((_A13 * x2 + _A11) * x2 + _A9) * x2 + _A7) * x2 + _A5) * x2 + _A3) * x2 + _A1) * x
    q = ((_B6 * x2 + _B4) * x2 + _B2) * x2 + _B0
    return p / q


@njit(cache=True, inline="always", error_model="numpy")
def sigmoid32(x):
    """1 / (1 + exp(-x)) for float32 x, |error| < 3e-7, no branches."""
    return HALF + HALF * tanh32(HALF * x)


@njit(cache=True, inline="always", error_model="numpy")
def lstm_cell32(zi, zf, zg, zo, c):
    """One LSTM unit with sigmoid gates and tanh, from its gate pre-activations and cell: (new c, new h). The
    scalar twin of :func:`edge_lstm.runtime.kernels.lstm_cell.lstm_cells16`."""
    cj = sigmoid32(zf) * c + sigmoid32(zi) * tanh32(zg)
    return cj, sigmoid32(zo) * tanh32(cj)
