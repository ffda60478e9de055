"""Events handed to the MQTT client and not yet acknowledged by the broker.

The worker can produce events faster than the broker acknowledges them (a slow link, a busy
broker); paho then holds every one in memory. The daemon asks :meth:`Outbox.full` before each
pass and waits while it is, so memory stays bounded and the input queue (with its overload
policy) takes the strain instead.

The wait has a bound: a publish not acknowledged within ``timeout_s`` is no longer waited for
(counted in :attr:`Outbox.unconfirmed`; paho still holds it and resends it after a reconnect). The
broker's acknowledgements travel on the same connection as the samples it sends: after an input
flood they queue behind its backlog for the daemon (measured: 2,496 events unacknowledged for 38 s
while ~1 M flooded messages were read through), and an unbounded wait then stopped the worker for
as long as the backlog lasted.

>>> from paho.mqtt.client import MQTTMessageInfo
>>> box = Outbox(limit=2, timeout_s=10.0)
>>> first, second = MQTTMessageInfo(1), MQTTMessageInfo(2)
>>> first.rc = second.rc = 0
>>> box.add(first, now=0.0); box.add(second, now=1.0)
>>> box.full(now=2.0)
True
>>> first._set_as_published()  # what paho does when the broker's PUBACK arrives
>>> box.pending(now=2.0), box.full(now=2.0)
(1, False)
>>> box.pending(now=11.5), box.unconfirmed  # the second waited longer than timeout_s
(0, 1)
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any


class Outbox:
    """QoS 1 publishes in the order they were made; acknowledged or timed-out ones leave from the front."""

    def __init__(self, limit: int, timeout_s: float = 10.0) -> None:
        self.limit = limit
        self.timeout_s = timeout_s
        self.unconfirmed = 0  # publishes given up on: not acknowledged within timeout_s
        self._sent: deque[tuple[Any, float]] = deque()

    def add(self, info: Any, now: float | None = None) -> None:
        """Track a ``MQTTMessageInfo`` that ``client.publish`` returned."""
        self._sent.append((info, time.monotonic() if now is None else now))

    def pending(self, now: float | None = None) -> int:
        """Publishes waited for (counted up to the oldest unacknowledged one: the broker acknowledges in
        order); those older than ``timeout_s`` are given up first."""
        sent, deadline = self._sent, (time.monotonic() if now is None else now) - self.timeout_s
        while sent:
            info, made = sent[0]
            if not _acknowledged(info):
                if made >= deadline:
                    break
                self.unconfirmed += 1
            sent.popleft()
        return len(sent)

    def full(self, now: float | None = None) -> bool:
        return self.pending(now) >= self.limit


def _acknowledged(info: Any) -> bool:
    try:
        return info.is_published()
    except (ValueError, RuntimeError):
        # paho could not queue it, or it was made while disconnected (paho resends it after reconnecting
        # but never marks this info): nothing here to wait for.
        return True
