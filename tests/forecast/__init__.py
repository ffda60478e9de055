"""Tests of edge_lstm.forecast: the fallback and intervals."""
