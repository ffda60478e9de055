"""Tests of the command line and of the README's commands."""
