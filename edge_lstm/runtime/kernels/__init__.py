"""Step kernels, by backend name. Each is imported only when asked for."""

from __future__ import annotations

import importlib

from edge_lstm.errors import BackendUnavailableError
from edge_lstm.runtime.bundle import Bundle
from edge_lstm.runtime.kernels.base import Kernel

#: backend name -> (module, class, the extra that installs its dependencies)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "numpy": ("edge_lstm.runtime.kernels.reference", "ReferenceKernel", ""),
    "numba-f32": ("edge_lstm.runtime.kernels.numba_f32", "NumbaF32Kernel", ""),
    "numba-int8": ("edge_lstm.runtime.kernels.numba_int8", "NumbaInt8Kernel", ""),
    "cuda": ("edge_lstm.runtime.kernels.cuda", "CudaKernel", "cuda"),
    "litert": ("edge_lstm.runtime.kernels.litert", "LiteRTKernel", "litert"),
    "litert-int8": ("edge_lstm.runtime.kernels.litert", "LiteRTInt8Kernel", "litert"),
    "litert-f32": ("edge_lstm.runtime.kernels.litert", "LiteRTFloatKernel", "litert"),
}


def make_kernel(backend: str, bundle: Bundle) -> Kernel:
    """Instantiate the kernel of ``backend`` for ``bundle``."""
    if backend not in BACKENDS:
        raise BackendUnavailableError(f"unknown backend {backend!r} (available: {', '.join(BACKENDS)})")
    module_name, class_name, extra = BACKENDS[backend]
    hint = f": pip install 'edge-lstm[{extra}]'" if extra else ""
    try:
        module = importlib.import_module(module_name)
        return getattr(module, class_name)(bundle)
    except ImportError as exc:
        raise BackendUnavailableError(f"backend {backend!r} needs {exc.name}, which is not installed{hint}") from None


__all__ = ["BACKENDS", "Kernel", "make_kernel"]
