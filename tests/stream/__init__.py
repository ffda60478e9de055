"""Tests of edge_lstm.stream: the engine, its state and scaling."""
