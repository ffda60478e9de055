"""Tests of edge_lstm.serve: the daemon against a real Mosquitto, its pure parts, eviction, fuzzing."""
