"""Parity of a runtime backend against Keras on the same windows (pure NumPy)."""

from __future__ import annotations

import numpy as np

#: Float backends must match Keras to this, relative to max(1, |output|, the outputs' std): float32 rounds relative
#: to the magnitudes a model computes with, so an output near zero of a model forecasting thousands (unscaled
#: passenger counts) is as exact as its float32 arithmetic at that scale.
FLOAT_TOLERANCE = 1e-4
#: Quantised backends' RMS error must stay within this fraction of the output's std.
QUANTISED_RMS_VS_STD = 0.03


def _sig(x: float) -> float:
    return float(f"{x:.6g}")


def parity(
    reference: np.ndarray, candidate: np.ndarray, tolerance: float | None = None, rms_vs_std: float | None = None
) -> dict[str, float | bool]:
    """Max and RMS error of ``candidate`` against ``reference``, absolute and relative to the output's std.

    >>> r = parity(np.array([0.0, 2.0]), np.array([0.0, 2.5]))
    >>> r["max_abs_error"], r["rms_error"], r["output_std"], r["max_error_vs_std"]
    (0.5, 0.353553, 1.0, 0.5)

    A float backend's error is judged against the scale the model computes at (here outputs in the thousands,
    one near zero off by float32's rounding at that scale):

    >>> parity(np.array([10.7, 18238.5, 4000.0]), np.array([10.7059, 18238.5, 4000.0]), tolerance=1e-4)[
    ...     "within_tolerance"]
    True
    """
    ref = np.asarray(reference, dtype=np.float64)
    err = np.asarray(candidate, dtype=np.float64) - ref
    std = float(ref.std()) or 1.0
    max_abs, rms = float(np.abs(err).max()), float(np.sqrt(np.mean(err**2)))
    report: dict[str, float | bool] = {
        "max_abs_error": _sig(max_abs),
        "rms_error": _sig(rms),
        "output_std": _sig(std),
        "max_error_vs_std": _sig(max_abs / std),
        "rms_error_vs_std": _sig(rms / std),
    }
    if tolerance is not None:
        report["tolerance"] = tolerance
        report["within_tolerance"] = bool((np.abs(err) <= tolerance * np.maximum(max(1.0, std), np.abs(ref))).all())
    if rms_vs_std is not None:
        report["tolerance_rms_vs_std"] = rms_vs_std
        report["within_tolerance"] = bool(rms / std <= rms_vs_std)
    return report
