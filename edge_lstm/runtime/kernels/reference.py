"""The NumPy reference kernel: the gate equations written out plainly. It is the specification
that every faster kernel is tested against.

Conventions (Keras's): ``kernel`` is ``(inputs, gates*units)``, ``recurrent_kernel`` is
``(units, gates*units)``, gate blocks are ordered i, f, c~, o for the LSTM and z, r, h~ for the GRU.
"""

from __future__ import annotations

import numpy as np

from edge_lstm.runtime import activations
from edge_lstm.runtime.kernels.base import Kernel
from edge_lstm.runtime.spec import LayerSpec


class ReferenceKernel(Kernel):
    name = "numpy"

    def _w(self, layer: LayerSpec, param: str) -> np.ndarray:
        return self.bundle.weights[layer.weight_key(param)]

    def step(self, state: np.ndarray, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        spec = self.spec
        s = state if rows is None else state[rows]  # fancy indexing copies; written back below
        v = x.astype(np.float32) * spec.input_scale + spec.input_offset
        for layer in spec.layers:
            v = self._layer(layer, v, s)
        if rows is not None:
            state[rows] = s
        return v

    def _layer(self, layer: LayerSpec, v: np.ndarray, s: np.ndarray) -> np.ndarray:
        act = lambda name, z: activations.apply(name, z)  # noqa: E731
        if layer.kind == "dense":
            return act(layer.activation, v @ self._w(layer, "kernel") + self._w(layer, "bias"))
        if layer.kind == "affine":
            return v * self._w(layer, "scale") + self._w(layer, "offset")
        if layer.kind == "activation":
            return act(layer.activation, v)

        u = layer.units
        hs = self.spec.slot(layer.index, "h")
        h = s[:, hs.offset : hs.offset + u]
        kernel, recurrent, bias = (self._w(layer, p) for p in ("kernel", "recurrent_kernel", "bias"))

        if layer.kind == "simple_rnn":
            h_new = act(layer.activation, v @ kernel + bias + h @ recurrent)

        elif layer.kind == "lstm":
            cs = self.spec.slot(layer.index, "c")
            c = s[:, cs.offset : cs.offset + u]
            z = v @ kernel + h @ recurrent + bias
            i = act(layer.recurrent_activation, z[:, :u])
            f = act(layer.recurrent_activation, z[:, u : 2 * u])
            g = act(layer.activation, z[:, 2 * u : 3 * u])
            o = act(layer.recurrent_activation, z[:, 3 * u :])
            c_new = f * c + i * g
            h_new = o * act(layer.activation, c_new)
            s[:, cs.offset : cs.offset + u] = c_new

        else:  # gru
            xz = v @ kernel + bias
            rec_bias = self._w(layer, "recurrent_bias")
            if layer.reset_after:
                hz = h @ recurrent + rec_bias
                z = act(layer.recurrent_activation, xz[:, :u] + hz[:, :u])
                r = act(layer.recurrent_activation, xz[:, u : 2 * u] + hz[:, u : 2 * u])
                candidate = act(layer.activation, xz[:, 2 * u :] + r * hz[:, 2 * u :])
            else:
                xz = xz + rec_bias  # Keras keeps a single bias here; the converter stores zeros
                z = act(layer.recurrent_activation, xz[:, :u] + h @ recurrent[:, :u])
                r = act(layer.recurrent_activation, xz[:, u : 2 * u] + h @ recurrent[:, u : 2 * u])
                candidate = act(layer.activation, xz[:, 2 * u :] + (r * h) @ recurrent[:, 2 * u :])
            h_new = z * h + (1.0 - z) * candidate

        s[:, hs.offset : hs.offset + u] = h_new
        return h_new
