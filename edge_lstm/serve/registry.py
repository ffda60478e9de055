"""The daemon's streams by when each was last heard from, and the rule that keeps their number bounded.

Each stream holds state (about 8 KB), so ``input.max_streams`` bounds them: a publisher minting a new id
per message must not grow the daemon until the device runs out of memory. A new stream beyond the limit
takes the place of the least recently heard-from one (which is evicted), so junk ids cannot lock real
devices out; it is refused only when every stream was heard from in the same pass. Streams silent for
longer than ``input.evict_after_s`` are evicted too. Pure; no I/O: the caller evicts what this names.

>>> streams = Registry(limit=2)
>>> streams.begin_pass(); streams.admit("a", 1.0); streams.admit("b", 2.0)
>>> streams.begin_pass(); streams.admit("c", 3.0); streams.leaving
['a']
>>> streams.admit("a", 3.5)  # heard from again in the same pass: it stays, and b leaves instead
>>> streams.leaving, list(streams.last)
(['b'], ['b', 'c', 'a'])
>>> streams.idle(before=3.2)  # (what the caller then evicts)
['b', 'c']
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from edge_lstm.serve.payloads import PayloadError


class Registry:
    """Streams in order of when they were last heard from (arrival times), least recent first."""

    def __init__(self, limit: int = 0) -> None:
        self.limit = limit  # 0: no limit
        self.last: OrderedDict[str, float] = OrderedDict()
        self.heard: set[str] = set()  # streams heard from in this pass
        self.leaving: list[str] = []  # streams this pass evicts to make room
        self.arrived: list[str] = []  # streams new in this pass

    def begin_pass(self) -> None:
        self.heard, self.leaving, self.arrived = set(), [], []

    def admit(self, name: str, now: float) -> None:
        """Stream ``name`` sent a sample at ``now``. Beyond the limit, the least recently heard-from stream not
        heard from in this pass is put in :attr:`leaving`; :class:`PayloadError` when there is none."""
        self.heard.add(name)
        if name in self.leaving:  # chosen to leave earlier in this pass, but here again: it stays
            self.leaving.remove(name)
            try:
                self._make_room(name)
            except PayloadError:
                self.leaving.append(name)  # (no other to take its place: it leaves after all)
                raise
        elif name not in self.last:
            self._make_room(name)
            self.arrived.append(name)
        self.last[name] = now
        self.last.move_to_end(name)

    def _make_room(self, name: str) -> None:
        if not self.limit or len(self.last) - len(self.leaving) < self.limit + (name in self.last):
            return
        leaving = set(self.leaving)
        for candidate in self.last:
            if candidate not in self.heard and candidate not in leaving:
                self.leaving.append(candidate)
                return
        raise PayloadError(f"stream {name[:60]!r} refused: the daemon keeps {self.limit:,} streams already "
                           "(input.max_streams), every one of them heard from in this pass")

    def idle(self, before: float) -> list[str]:
        """Streams last heard from before ``before``, least recent first."""
        out = []
        for name, t in self.last.items():
            if t >= before:
                break
            out.append(name)
        return out

    def forget(self, names: list[str]) -> None:
        for name in names:
            self.last.pop(name, None)

    def state(self) -> dict[str, Any]:
        """For the checkpoint (JSON): each stream's last time, least recent first."""
        return {"names": list(self.last), "last": list(self.last.values())}

    def load_state(self, state: dict[str, Any], names: list[str], now: float) -> None:
        """Take back :meth:`state`; ``names`` (the engine's streams) a checkpoint without it gets heard from
        ``now``."""
        self.last = OrderedDict((name, now) for name in names)
        self.last.update(zip(state.get("names", []), state.get("last", []), strict=False))
        for name, _ in sorted(self.last.items(), key=lambda item: item[1]):
            self.last.move_to_end(name)
