"""LiteRT kernels: the bundle's TFLite step models run by ``ai_edge_litert`` (or ``tflite_runtime``).

Tensors are mapped by signature name, never by index. The runner is resized to the number of
streams stepped at once. State is carried between steps as float32 rows (the canonical layout):
re-quantising a dequantised int8 state with the same scale and zero point gives back the same
integers, so where the model's output and input scales agree this is exactly "keeping the
quantised state", and where they differ it is the required re-quantisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_lstm.errors import BundleError
from edge_lstm.runtime.bundle import Bundle
from edge_lstm.runtime.kernels.base import Kernel


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise ImportError(name="ai_edge_litert") from None
    return Interpreter


def _without_delegates() -> Any:
    try:
        from ai_edge_litert.interpreter import OpResolverType
    except ImportError:
        from tflite_runtime.interpreter import OpResolverType
    return OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES


class _Tensor:
    """Quantisation of one named signature tensor."""

    def __init__(self, detail: dict[str, Any]) -> None:
        self.dtype = detail["dtype"]
        scale, zero = detail.get("quantization", (0.0, 0))
        self.scale, self.zero = float(scale), int(zero)
        self.quantised = self.dtype != np.float32 and self.scale > 0

    def encode(self, v: np.ndarray) -> np.ndarray:
        if not self.quantised:
            return np.ascontiguousarray(v, dtype=self.dtype)
        info = np.iinfo(self.dtype)
        return np.clip(np.rint(v / self.scale) + self.zero, info.min, info.max).astype(self.dtype)

    def decode(self, q: np.ndarray) -> np.ndarray:
        if not self.quantised:
            return q.astype(np.float32, copy=False)
        return ((q.astype(np.float32) - self.zero) * self.scale).astype(np.float32)


class LiteRTKernel(Kernel):
    """Runs ``step_int16x8.tflite``: int8 weights, int16 activations and cell state."""

    name = "litert"
    variant = "int16x8"

    def __init__(self, bundle: Bundle) -> None:
        super().__init__(bundle)
        section = (bundle.manifest.get("tflite") or {}).get(self.variant)
        if not section:
            raise BundleError(
                f"the bundle has no {self.variant} TFLite step model: convert it again with this version of "
                "`edge-lstm convert` (with TensorFlow installed) to use this backend"
            )
        self._model = bundle.file_bytes(section["file"])
        self._runner = self._make_runner(delegates=True)
        self.delegated = True  # XNNPACK, LiteRT's default CPU delegate (see step)
        self._names: dict[str, str] = section["tensors"]
        inputs, outputs = self._runner.get_input_details(), self._runner.get_output_details()
        expected = {self._names["x"], *(self._names[s.key] for s in self.spec.state_slots)}
        if set(inputs) != expected:
            raise BundleError(f"{section['file']}: inputs {sorted(inputs)} do not match {sorted(expected)}")
        self._in = {name: _Tensor(d) for name, d in inputs.items()}
        # The step model takes x normalised per column (its "input" section; none before: x as it is).
        normalised = section.get("input") or {}
        features = self.spec.features
        self._centre = np.asarray(normalised.get("centre", [0.0] * features), np.float32)
        self._half = np.asarray(normalised.get("half_range", [1.0] * features), np.float32)
        self._out = {name: _Tensor(d) for name, d in outputs.items()}

    def _make_runner(self, delegates: bool) -> Any:
        interpreter_class = _interpreter_class()
        options = {} if delegates else {"experimental_op_resolver_type": _without_delegates()}
        self._interpreter = interpreter_class(model_content=self._model, num_threads=1, **options)
        return self._interpreter.get_signature_runner()

    def step(self, state: np.ndarray, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        rows_state = state if rows is None else state[rows]
        feed = {self._names["x"]: self._in[self._names["x"]].encode((x - self._centre) / self._half)}
        for s in self.spec.state_slots:
            name = self._names[s.key]
            feed[name] = self._in[name].encode(rows_state[:, s.offset : s.offset + s.size])
        try:
            result = self._runner(**feed)
        except RuntimeError:
            # XNNPACK refuses to prepare some integer models (seen: a model whose activation ranges a nearly
            # constant telemetry channel set): the same model runs on LiteRT's own kernels.
            if not self.delegated:
                raise
            self._runner, self.delegated = self._make_runner(delegates=False), False
            result = self._runner(**feed)
        new_state = np.empty_like(rows_state)
        for s in self.spec.state_slots:
            name = self._names[s.key]
            new_state[:, s.offset : s.offset + s.size] = self._out[name].decode(result[name])
        if rows is None:
            state[...] = new_state
        else:
            state[rows] = new_state
        return self._out[self._names["y"]].decode(result[self._names["y"]])


class LiteRTInt8Kernel(LiteRTKernel):
    """Runs ``step_int8.tflite``: int8 weights and activations (the cell state too)."""

    name = "litert-int8"
    variant = "int8"


class LiteRTFloatKernel(LiteRTKernel):
    """Runs ``step_f32.tflite``: the float reference of the TFLite step."""

    name = "litert-f32"
    variant = "f32"


def available() -> bool:
    try:
        _interpreter_class()
    except ImportError:
        return False
    return True


__all__ = ["LiteRTFloatKernel", "LiteRTInt8Kernel", "LiteRTKernel", "available"]
