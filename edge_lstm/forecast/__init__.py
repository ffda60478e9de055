"""Forecast policy: the last-value fallback and calibrated intervals."""
