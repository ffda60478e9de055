"""What the streaming core takes: one timestamped sample of a stream. Pure."""

from __future__ import annotations

from typing import NamedTuple


class Sample(NamedTuple):
    """One timestamped sample (a named tuple: created thousands of times a second, ~4x cheaper than a
    frozen dataclass)."""

    ts: float
    values: tuple[float, ...]
