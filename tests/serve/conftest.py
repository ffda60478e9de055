"""Fixtures of the daemon's tests: a private Mosquitto and the converted forecaster (modules may define their own)."""

import pytest

from tests.support.mosquitto import Mosquitto


@pytest.fixture
def broker(tmp_path):
    b = Mosquitto(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture
def bundle(forecaster):
    return forecaster
