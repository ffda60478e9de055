"""Atomic checkpoints of the daemon's state: one ``.npz`` holding arrays and a JSON header."""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

_META = "__meta__"


def to_bytes(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> bytes:
    """The ``.npz`` of a checkpoint, in memory (what a shard's snapshot message carries)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays, **{_META: np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)})
    return buf.getvalue()


def from_bytes(data: bytes, what: str = "checkpoint") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """What :func:`to_bytes` wrote; ValueError naming ``what`` when it is unreadable."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files if k != _META}
            meta = json.loads(npz[_META].tobytes().decode())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ValueError(f"{what} is unreadable ({exc})") from None
    return arrays, meta


def save(path: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write atomically: a temporary file in the same directory, flushed, then renamed over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = to_bytes(arrays, meta)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The checkpoint at ``path``, or None when there is none; ValueError when it is unreadable."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"checkpoint {path} is unreadable ({exc})") from None
    return from_bytes(data, f"checkpoint {path}")
