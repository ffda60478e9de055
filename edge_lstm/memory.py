"""Hand the JIT compiler's code pages back to the kernel once the kernels are compiled. Linux only.

Numba compiles (or loads from its cache) every kernel at start-up (:func:`edge_lstm.engine.warm_up`),
and doing so touches about 65 MB of LLVM's code in ``libllvmlite.so``. Those pages are clean and
file-backed — the kernel could drop them whenever it liked — but they count in the daemon's resident
set until it does. Stepping the model never executes them again, so after warm-up the daemon tells
the kernel so (``madvise(MADV_PAGEOUT)``, Linux 5.4+); should a kernel ever be compiled again, the
pages are read back from disk. Elsewhere, or on an older kernel, nothing happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

MADV_PAGEOUT = 21
COMPILER_LIBRARIES = ("libllvmlite",)

log = logging.getLogger("edge_lstm.memory")


def mappings(maps_text: str, names: tuple[str, ...] = COMPILER_LIBRARIES) -> list[tuple[int, int]]:
    """(start, length) of every mapping of a file whose name contains one of ``names``, from
    ``/proc/self/maps`` text.

    >>> mappings("7f00-7f80 r-xp 0 08:01 5 /venv/llvmlite/binding/libllvmlite.so\\n"
    ...          "7f80-7f90 rw-p 0 00:00 0 \\n")
    [(32512, 128)]
    """
    found = []
    for line in maps_text.splitlines():
        parts = line.split()
        if len(parts) >= 6 and any(name in parts[5] for name in names):
            start, end = (int(x, 16) for x in parts[0].split("-"))
            found.append((start, end - start))
    return found


def page_out_compiler() -> int:
    """Advise the kernel to reclaim the compiler library's resident pages; return the bytes advised
    (0 where this is not Linux or the kernel refused)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as f:
            regions = mappings(f.read())
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return 0
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    advised = 0
    for start, length in regions:
        if libc.madvise(start, length, MADV_PAGEOUT) == 0:
            advised += length
        else:
            log.debug("madvise(MADV_PAGEOUT) refused: errno %d", ctypes.get_errno())
    return advised
