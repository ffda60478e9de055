"""Tests of edge_lstm.evaluate: replay, NAB scoring, metrics."""
