"""The daemon hands the JIT compiler's pages back after warm-up; compiled code keeps working.

(The check runs in a subprocess, but the library file may be mapped by this test process too: the
pages must leave the subprocess's resident set even when another process shares them.)"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

SCRIPT = textwrap.dedent("""
    import numba, numpy as np
    from edge_lstm.runtime.memory import page_out_compiler

    def resident_kb():
        total, inside = 0, False
        for line in open("/proc/self/smaps"):
            head = line.split()
            if head and "-" in head[0] and not head[0].endswith(":"):
                inside = len(head) >= 6 and "libllvmlite" in head[5]
            elif inside and line.startswith("Rss:"):
                total += int(head[1])
        return total

    @numba.njit
    def f(x):
        return (x * 2.0).sum()

    f(np.ones(3))
    before = resident_kb()
    advised = page_out_compiler()
    after = resident_kb()
    assert f(np.ones(4)) == 8.0, "compiled code runs after the page-out"
    g = numba.njit(lambda x: x + 1)
    assert g(1) == 2, "and the compiler still compiles (its pages come back from disk)"
    print(advised, before, after)
""")


def test_page_out_drops_the_compilers_resident_pages_and_compiled_code_still_runs():
    numba.njit(lambda x: x * 2)(np.ones(2))  # this process maps and has touched the same library pages
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    advised, before, after = map(int, out.stdout.split())
    if advised == 0:
        pytest.skip("not Linux")
    assert before > 20_000, "compiling touched tens of MB of the compiler's code"
    assert after < before / 2, f"resident compiler pages {before} kB -> {after} kB"
