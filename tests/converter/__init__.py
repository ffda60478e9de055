"""Tests of the converter: Keras parity, refusals, calibration, training."""
