"""Tests of the simulated sensor nodes."""
