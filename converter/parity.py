"""Parity of a runtime backend against Keras on the same windows (pure NumPy)."""

from __future__ import annotations

import numpy as np

#: Float backends must match Keras to this, relative to max(1, |output|, the outputs' std): float32 rounds relative
#: to the magnitudes a model computes with, so an output near zero of a model forecasting thousands (unscaled
#: passenger counts) is as exact as its float32 arithmetic at that scale.
FLOAT_TOLERANCE = 1e-4
#: Quantised backends' RMS error must stay within this fraction of the output's std.
QUANTISED_RMS_VS_STD = 0.03
#: Where float32 rounding alone moves an output (an ill-conditioned point: :func:`float_sensitivity`), a float
#: backend may differ from Keras by this many times that movement.
ILL_CONDITIONED_SLACK = 4.0
#: Units in the last place each input is nudged by to measure that movement.
NUDGE_ULPS = 4


def float_sensitivity(run, inputs: np.ndarray, seeds: tuple[int, ...] = (0, 1)) -> np.ndarray:
    """How far a model's float32 outputs move when its inputs move by ``NUDGE_ULPS`` units in the last place (random
    signs; the largest move over ``seeds``): at most points far below :data:`FLOAT_TOLERANCE`, but where a recurrent
    model sits near a tipping point its own rounding is amplified, and two exact float32 implementations (Keras,
    NumPy) differ there by as much. ``run`` maps inputs to outputs (the NumPy backend).

    >>> run = lambda x: np.where(x == 1.0, 0.0, 1.0)  # a jump at exactly 1
    >>> float_sensitivity(run, np.array([0.25, 1.0, 2.0], np.float32)).tolist()
    [0.0, 1.0, 0.0]
    """
    base = np.asarray(run(inputs), np.float64)
    moved = np.zeros_like(base)
    step = NUDGE_ULPS * float(np.finfo(np.float32).eps)
    for seed in seeds:
        signs = np.random.default_rng(seed).choice([-1.0, 1.0], inputs.shape)
        nudged = (inputs * (1.0 + signs * step)).astype(np.float32)
        nudged = np.where(inputs == 0, signs * np.finfo(np.float32).tiny, nudged).astype(np.float32)
        moved = np.maximum(moved, np.abs(np.asarray(run(nudged), np.float64) - base))
    return moved


def _sig(x: float) -> float:
    return float(f"{x:.6g}")


def parity(
    reference: np.ndarray, candidate: np.ndarray, tolerance: float | None = None, rms_vs_std: float | None = None,
    sensitivity: np.ndarray | None = None,
) -> dict[str, float | bool]:
    """Max and RMS error of ``candidate`` against ``reference``, absolute and relative to the output's std.

    With ``sensitivity`` (:func:`float_sensitivity`, per output), a float backend is judged at each output against
    the larger of ``tolerance`` and :data:`ILL_CONDITIONED_SLACK` times the model's own float32 sensitivity there;
    ``ill_conditioned`` counts the outputs where the second is the larger.

    >>> r = parity(np.array([0.0, 2.0]), np.array([0.0, 2.5]))
    >>> r["max_abs_error"], r["rms_error"], r["output_std"], r["max_error_vs_std"]
    (0.5, 0.353553, 1.0, 0.5)

    A float backend's error is judged against the scale the model computes at (here outputs in the thousands,
    one near zero off by float32's rounding at that scale):

    >>> parity(np.array([10.7, 18238.5, 4000.0]), np.array([10.7059, 18238.5, 4000.0]), tolerance=1e-4)[
    ...     "within_tolerance"]
    True

    At a point where the model's own rounding moves the output by 1e-3, a difference of 2e-3 is no fault:

    >>> r = parity(np.array([0.5, 0.5]), np.array([0.5, 0.502]), 1e-4, sensitivity=np.array([0.0, 1e-3]))
    >>> r["within_tolerance"], r["ill_conditioned"]
    (True, 1)
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
        allowed = tolerance * np.maximum(max(1.0, std), np.abs(ref))
        if sensitivity is not None:
            slack = ILL_CONDITIONED_SLACK * np.asarray(sensitivity, np.float64).reshape(allowed.shape)
            report["ill_conditioned"] = int((slack > allowed).sum())
            allowed = np.maximum(allowed, slack)
        report["within_tolerance"] = bool((np.abs(err) <= allowed).all())
    if rms_vs_std is not None:
        report["tolerance_rms_vs_std"] = rms_vs_std
        report["within_tolerance"] = bool(rms / std <= rms_vs_std)
    return report
