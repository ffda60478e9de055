"""Events handed to the MQTT client and not yet acknowledged by the broker.

The worker can produce events faster than the broker acknowledges them (a slow link, a busy
broker); paho then holds every one in memory. The daemon asks :meth:`Outbox.full` before each
pass and waits while it is, so memory stays bounded and the input queue (with its overload
policy) takes the strain instead.

>>> from paho.mqtt.client import MQTTMessageInfo
>>> box = Outbox(limit=2)
>>> first, second = MQTTMessageInfo(1), MQTTMessageInfo(2)
>>> first.rc = second.rc = 0
>>> box.add(first); box.add(second)
>>> box.full()
True
>>> first._set_as_published()  # what paho does when the broker's PUBACK arrives
>>> box.pending(), box.full()
(1, False)
"""

from __future__ import annotations

from collections import deque
from typing import Any


class Outbox:
    """QoS 1 publishes in the order they were made; acknowledged ones leave from the front."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._sent: deque[Any] = deque()

    def add(self, info: Any) -> None:
        """Track a ``MQTTMessageInfo`` that ``client.publish`` returned."""
        self._sent.append(info)

    def pending(self) -> int:
        """Publishes not yet acknowledged (counted up to the oldest unacknowledged one: the broker
        acknowledges in order)."""
        while self._sent and _acknowledged(self._sent[0]):
            self._sent.popleft()
        return len(self._sent)

    def full(self) -> bool:
        return self.pending() >= self.limit


def _acknowledged(info: Any) -> bool:
    try:
        return info.is_published()
    except (ValueError, RuntimeError):
        # paho could not queue it, or it was made while disconnected (paho resends it after reconnecting
        # but never marks this info): nothing here to wait for.
        return True
