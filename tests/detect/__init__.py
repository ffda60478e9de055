"""Tests of edge_lstm.detect: the detector's views, relations, operating changes."""
