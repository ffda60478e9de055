"""The hand-over from paho's network thread to the daemon's worker: a bounded queue of received messages.

The network thread only offers (an append: a deque's appends and pops are atomic, so neither thread waits on a
lock); beyond ``size`` the overload policy drops the oldest or the newest message, acknowledged and counted in
``dropped_overload``. The worker drains batches bounded in messages and in payload bytes.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable

#: A received message: (topic, payload, arrival time, MQTT message id, QoS).
Item = tuple[str, bytes, float, int, int]


class Intake:
    """``offer`` from the network thread; ``drain`` from the worker; ``open`` while the daemon takes messages."""

    def __init__(self, size: int, overload: str, batch_max: int, batch_bytes: int,
                 ack: Callable[[list[Item]], None], counters: Counter) -> None:
        self.queue: deque[Item] = deque()
        self.size, self.overload, self.batch_max, self.batch_bytes = size, overload, batch_max, batch_bytes
        self.ack, self.counters = ack, counters
        self.arrived = threading.Event()
        self.open = threading.Event()

    def __len__(self) -> int:
        return len(self.queue)

    def offer(self, item: Item) -> None:
        """Queue a message (the network thread), dropping one by the overload policy when full."""
        if len(self.queue) >= self.size:
            self.counters["dropped_overload"] += 1
            if self.overload == "drop_newest":
                self.ack([item])
                return
            try:
                self.ack([self.queue.popleft()])
            except IndexError:
                pass
        self.queue.append(item)
        self.arrived.set()

    def drain(self, timeout: float) -> list[Item]:
        """The next batch (waiting up to ``timeout`` for one): at most ``batch_max`` messages and, past the first,
        ``batch_bytes`` of payload."""
        if not self.queue:
            self.arrived.wait(timeout)
        self.arrived.clear()
        items: list[Item] = []
        size = 0
        try:
            while len(items) < self.batch_max and size < self.batch_bytes:
                items.append(self.queue.popleft())
                size += len(items[-1][1])
        except IndexError:
            pass
        if self.queue:
            self.arrived.set()
        return items
