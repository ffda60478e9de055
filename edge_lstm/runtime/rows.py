"""Which streams a step advances: the indices checked in compiled code (in range, none twice), so that a step by
index (the daemon's) pays no NumPy passes (``np.unique`` sorts) before the kernel."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def rows_problem(rows: np.ndarray, n: int, marks: np.ndarray) -> int:
    """-1 when every index of ``rows`` is in [0, n) and none repeats; else ``2 j`` for ``rows[j]`` out of range or
    ``2 j + 1`` for its repeat. ``marks`` (n bytes, all zero) is left all zero."""
    problem = -1
    marked = 0
    for j in range(rows.size):
        r = rows[j]
        if r < 0 or r >= n:
            problem = 2 * j
            break
        if marks[r]:
            problem = 2 * j + 1
            break
        marks[r] = 1
        marked += 1
    for j in range(marked):
        marks[rows[j]] = 0
    return problem


def out_of_range(rows: np.ndarray, n: int) -> IndexError:
    """The error for indices of ``rows`` outside [0, n), naming the first five."""
    return IndexError(f"stream index out of range for a bank of {n} streams: {rows[(rows < 0) | (rows >= n)][:5]}")


def check_rows(rows: np.ndarray, n: int, marks: np.ndarray) -> None:
    """Raise IndexError for an index out of [0, n), ValueError for one given twice (``rows`` int64, 1-D)."""
    problem = rows_problem(rows, n, marks)
    if problem < 0:
        return
    if problem % 2 == 0:
        raise out_of_range(rows, n)
    raise ValueError("each stream may appear at most once in one step")
