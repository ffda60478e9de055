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


def save(path: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write atomically: a temporary file in the same directory, flushed, then renamed over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **arrays, **{_META: np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)})
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getvalue())
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
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files if k != _META}
            meta = json.loads(npz[_META].tobytes().decode())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ValueError(f"checkpoint {path} is unreadable ({exc})") from None
    return arrays, meta
