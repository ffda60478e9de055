"""Hand the JIT compiler's code pages back to the kernel once the kernels are compiled. Linux only.

Numba compiles (or loads from its cache) every kernel at start-up (:func:`edge_lstm.stream.engine.warm_up`),
and doing so touches about 70 MB of LLVM's code and read-only data in ``libllvmlite.so``. Stepping
the model never executes them again, yet they count in the daemon's resident set. So after warm-up
the daemon unmaps those pages from itself (``madvise(MADV_DONTNEED)``); should a kernel ever be
compiled again, they fault back in from the file. Only read-only mappings with no private
(copy-on-write) pages are touched — the relocated ones (RELRO) and writable data stay — so what comes
back from the file is exactly what was there. Elsewhere than Linux nothing happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from dataclasses import dataclass

MADV_DONTNEED = 4
COMPILER_LIBRARIES = ("libllvmlite",)

log = logging.getLogger("edge_lstm.runtime.memory")


@dataclass(frozen=True)
class Mapping:
    start: int
    length: int
    perms: str
    path: str
    anonymous_kb: int  # private (copy-on-write) pages: what the file no longer holds


def mappings(smaps_text: str) -> list[Mapping]:
    """The mappings of ``/proc/self/smaps`` text.

    >>> text = ("7f00-7f80 r-xp 0 08:01 5 /venv/llvmlite/binding/libllvmlite.so\\nRss: 8 kB\\nAnonymous: 0 kB\\n"
    ...         "7f80-7f90 rw-p 0 00:00 0 \\nAnonymous: 4 kB\\n")
    >>> [(m.start, m.length, m.perms, m.anonymous_kb) for m in mappings(text)]
    [(32512, 128, 'r-xp', 0), (32640, 16, 'rw-p', 4)]
    """
    found: list[Mapping] = []
    for line in smaps_text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if "-" in parts[0] and not parts[0].endswith(":"):
            start, end = (int(x, 16) for x in parts[0].split("-"))
            found.append(Mapping(start, end - start, parts[1], parts[5] if len(parts) > 5 else "", 0))
        elif parts[0] == "Anonymous:" and found:
            last = found[-1]
            found[-1] = Mapping(last.start, last.length, last.perms, last.path, int(parts[1]))
    return found


def releasable(regions: list[Mapping], names: tuple[str, ...] = COMPILER_LIBRARIES) -> list[Mapping]:
    """The read-only, unmodified mappings of the named libraries: safe to drop and fault back in."""
    return [m for m in regions if any(n in m.path for n in names) and m.perms in ("r-xp", "r--p")
            and m.anonymous_kb == 0]


def page_out_compiler() -> int:
    """Drop this process's resident pages of the compiler library's code and read-only data; return the
    bytes advised (0 where this is not Linux or the kernel refused)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        with open("/proc/self/smaps", encoding="ascii", errors="replace") as f:
            regions = releasable(mappings(f.read()))
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return 0
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    advised = 0
    for region in regions:
        if libc.madvise(region.start, region.length, MADV_DONTNEED) == 0:
            advised += region.length
        else:
            log.debug("madvise(MADV_DONTNEED) refused: errno %d", ctypes.get_errno())
    return advised
