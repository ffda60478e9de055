"""The per-sample measures the detector's views are made of (Numba; no state of their own): a pattern's distance
to its nearest earlier window, the residual against the seasonal memory, and rings of block maxima for the trailing
bar each view compares with. Used by :mod:`edge_lstm.detect.detector`."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def pattern_distance(recent, segments, seen, length, seg, query):
    """RMS distance from the last ``length`` values (as segment means) to the nearest window of ``d = length / seg``
    consecutive stored segments that ends before them; -1 while there is none. ``seen`` counts the values,
    the newest included; ``recent`` is a ring of values, ``segments`` a ring of ``ring`` segment means whose
    first ``d`` are repeated after it (so that every window is contiguous: no modulo in the inner loop, 5x
    faster than indexing the ring modulo its size); ``query`` is work space of ``d``."""
    d = length // seg
    ring = segments.size - d
    done = seen // seg  # complete segments
    last = (seen - length) // seg - d  # the latest first segment of a window that ends before the query starts
    first = max(0, done - ring)
    if last < first:
        return -1.0
    at = (seen - length) % length
    for k in range(d):
        acc = 0.0
        for _ in range(seg):
            acc += recent[at]
            at += 1
            if at == length:
                at = 0
        query[k] = acc / seg
    best = np.inf
    p = first % ring
    for _ in range(last + 1 - first):
        acc = 0.0
        for k in range(d):
            diff = query[k] - segments[p + k]
            acc += diff * diff
        best = min(best, acc)
        p += 1
        if p == ring:
            p = 0
    return math.sqrt(best / d)


@njit(cache=True)
def seasonal_residual(x, residual, now_bin, low, high, held, days, reach, bins_per_day):
    """The residual against whichever is nearest ``x``: the forecast (``x - residual``) or the [min, max] of a
    bin within ``reach`` bins of this time of day on each of the last ``days`` days (``held``: which bin each
    slot of the ring holds)."""
    best = residual
    ring = held.size
    for d in range(1, days + 1):
        centre = now_bin - d * bins_per_day
        for b in range(centre - reach, centre + reach + 1):
            slot = b % ring
            if held[slot] != b:
                continue
            if x > high[slot]:
                gap = x - high[slot]
            elif x < low[slot]:
                gap = x - low[slot]
            else:
                return 0.0
            if abs(gap) < abs(best):
                best = gap
    return best


@njit(cache=True)
def trailing_max(blocks, floor=0.0):
    """The largest of a ring of block maxima, and ``floor``: 0 for sizes; -inf for values of any sign."""
    top = floor
    for b in range(blocks.size):
        top = max(top, blocks[b])
    return top


@njit(cache=True)
def roll(blocks, empty):
    """Shift a ring of block maxima (or minima) by one block: the current block joins the history."""
    n = blocks.size - 1
    for b in range(n - 1):
        blocks[b] = blocks[b + 1]
    blocks[n - 1] = blocks[n]
    blocks[n] = empty
