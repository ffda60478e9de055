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


@njit(cache=True, inline="always")
def push_value(values, seen, x):
    """Write value number ``seen`` (0-based) into a ring of ``R = values.size`` values laid out newest first (at
    ``R - 1 - seen % R``), so that going back in time goes forward in memory."""
    values[values.size - 1 - seen % values.size] = x


@njit(cache=True, inline="always")
def _window_sum(values, a, b, length):
    """Sum of squared differences between the ``length`` values from ring position ``a`` on and from ``b`` on."""
    ring = values.size
    acc = 0.0
    for k in range(length):
        diff = np.float64(values[(a + k) % ring]) - values[(b + k) % ring]
        acc += diff * diff
    return acc


@njit(cache=True, inline="always")
def _slide(near, far, sums, x_in, x_out, best):
    """One step of the running sums over a stretch of lags whose values lie unbroken in the ring; the least sum's
    bits (non-negative doubles order as their int64 patterns, which vectorises; below zero is rounding)."""
    bits = sums.view(np.int64)
    for k in range(sums.size):
        a = x_in - near[k]
        b = x_out - far[k]
        sums[k] = sums[k] + (a * a - b * b)
        best = min(best, bits[k])
    return best


@njit(cache=True)
def lagged_distance(values, lags, seen, length):
    """RMS difference, sample by sample, from the last ``length`` values to the nearest earlier window that does
    not overlap them, among those ending at most ``M = lags.size - 1`` samples before; -1 while there is none.
    ``values`` is a ring written by :func:`push_value` (``values.size >= M + length + 1``), the newest (number
    ``seen - 1``) written already. ``lags[l]`` is kept here: the sum over the last ``length`` samples of
    the squared difference between each and the sample ``l`` before it, updated by one term in and one out per
    sample (O(M) a sample, not O(M x length)); one lag a sample is summed again exactly, in turn, so rounding never
    accumulates for long. ``lags[0]`` is scratch."""
    ring = values.size
    top_lag = lags.size - 1
    t = seen - 1
    newest = min(top_lag, t - length + 1)  # the largest lag whose window lies wholly in the stream
    if newest < length:
        return -1.0
    known = min(top_lag, t - length)  # the lags valid before this sample
    q = ring - 1 - t % ring  # ring position of the newest value; l samples before it: (q + l) % ring
    if known >= length:  # refresh one lag's sum exactly, as of the previous sample
        lag = length + t % (known - length + 1)
        lags[lag] = _window_sum(values, q + 1, q + 1 + lag, length)
    x_in, x_out = np.float64(values[q]), np.float64(values[(q + length) % ring])  # (float64 sums of float32 values)
    best = np.int64(0x7FF0000000000000)  # +inf's bits
    lag = length
    while lag <= known:  # stretches of lags over which neither the near nor the far value wraps round the ring
        near, far = (q + lag) % ring, (q + length + lag) % ring
        n = min(known + 1 - lag, ring - near, ring - far)
        best = _slide(values[near:near + n], values[far:far + n], lags[lag:lag + n], x_in, x_out, best)
        lag += n
    lags.view(np.int64)[0] = best  # back to a double
    least = np.inf if known < length else max(lags[0], 0.0)
    if newest > known:  # a lag whose window just became whole: its sum from scratch
        acc = _window_sum(values, q, q + newest, length)
        lags[newest] = acc
        least = min(least, acc)
    return math.sqrt(max(least, 0.0) / length)


@njit(cache=True)
def rebuild_lags(values, lags, seen, length):
    """Every sum :func:`lagged_distance` keeps, from scratch, as of value number ``seen - 1`` (rows of ``values`` and
    ``lags`` per stream, ``lags`` zeroed; a checkpoint holds the values, not the sums: half the size)."""
    ring = values.shape[1]
    top_lag = lags.shape[1] - 1
    back = np.empty(ring)  # back[k]: the value k samples before the newest
    for i in range(values.shape[0]):
        t = seen[i] - 1
        if t < 0:
            continue
        q = ring - 1 - t % ring
        back[: ring - q] = values[i, q:]
        back[ring - q :] = values[i, :q]
        now = back[:length]
        for lag in range(length, min(top_lag, t - length + 1) + 1):
            then = back[lag : lag + length]
            acc = 0.0
            for k in range(length):
                diff = now[k] - then[k]
                acc += diff * diff
            lags[i, lag] = acc


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
