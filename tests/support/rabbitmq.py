"""The private RabbitMQ node (edge_lstm.demo.rabbitmq) as a pytest fixture: one per test module."""

from __future__ import annotations

import pytest

from edge_lstm.demo.rabbitmq import RabbitMQ, available


@pytest.fixture(scope="module")
def rabbitmq():
    """One node per test module (startup costs ~10 s)."""
    why = available()
    if why:
        pytest.skip(why)
    node = RabbitMQ().start()
    yield node
    node.stop()
