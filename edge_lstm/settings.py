"""Settings declared once, on the dataclass that uses them: each field's default, help and bounds, from which the
daemon's TOML schema (:mod:`edge_lstm.serve.config`) is derived."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import Any

Check = Callable[[Any], "str | None"]  # returns what is wrong with a value, or None


def setting(default: Any, help: str = "", check: Check | None = None, toml: bool = True, section: str = "",
            key: str = "") -> Any:
    """A dataclass field with its help and check (``toml=False``: not a key of the configuration file); ``section``
    and ``key``: its table and name in the file, where they are not the dataclass's own (its table, its name)."""
    return field(default=default, metadata={"help": help, "check": check, "toml": toml, "section": section,
                                            "key": key})


def positive(v: Any) -> str | None:
    return None if v > 0 else "must be positive"


def non_negative(v: Any) -> str | None:
    return None if v >= 0 else "must be zero or positive"


def unit_interval(v: Any) -> str | None:
    return None if 0 < v < 1 else "must be in (0, 1)"


def one_of(*allowed: Any) -> Check:
    return lambda v: None if v in allowed else f"must be one of {', '.join(map(str, allowed))}"
