"""Tests of edge_lstm.runtime: bundles, kernels against the reference, the stream bank."""
