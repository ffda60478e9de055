"""Anomaly detection over forecast residuals: the detector's views, device relations, operating changes."""
