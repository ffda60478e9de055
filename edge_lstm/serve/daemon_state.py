"""The daemon's checkpoint: its engine's state with the daemon's counters and registry, restored at start (when it
was made with the same bundle and fits) and saved every ``state.checkpoint_every_s`` and at a clean stop
(:mod:`edge_lstm.serve.checkpoint` is the file)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from edge_lstm.serve import checkpoint
from edge_lstm.stream.engine import Engine

if TYPE_CHECKING:
    from edge_lstm.serve.daemon import Daemon

log = logging.getLogger("edge_lstm.serve.daemon")


def restore(daemon: Daemon) -> str:
    """Take the checkpoint file's state back, if there is one that fits: what was done, for the log and stats."""
    if not daemon.checkpoint_path:
        return "no checkpoint configured"
    try:
        found = checkpoint.load(daemon.checkpoint_path)
    except ValueError as exc:
        log.warning("%s; starting fresh", exc)
        return f"unreadable checkpoint: {exc}"
    if found is None:
        return "no checkpoint yet"
    arrays, meta = found
    if meta.get("bundle_sha256") != daemon.bundle_hash:
        log.warning("checkpoint was made with another bundle; warming up fresh")
        return "checkpoint from another bundle: warming up fresh"
    try:
        note = daemon.engine.restore(arrays, meta)
    except (KeyError, IndexError, TypeError, ValueError) as exc:  # a file that reads but does not fit
        log.warning("checkpoint %s does not fit (%s: %s); starting fresh", daemon.checkpoint_path,
                    type(exc).__name__, exc)
        daemon.engine = Engine(daemon.model, daemon.engine.config)
        return f"checkpoint did not fit ({type(exc).__name__}: {exc}): starting fresh"
    log.info("restored %d streams from %s", len(daemon.engine.names), daemon.checkpoint_path)
    # The totals roll back with the state they describe (samples does, with the engine's counters): after a
    # crash, messages processed since the checkpoint come again and are counted again, once in all.
    daemon.counters.update({k: int(v) for k, v in meta.get("daemon_counters", {}).items()})
    daemon.registry.load_state(meta.get("registry", {}), daemon.engine.names, time.time())
    limit = daemon.config["input"]["max_streams"]
    excess = list(daemon.registry.last)[: max(0, len(daemon.registry.last) - limit)] if limit else []
    if excess:
        daemon._evict(excess, "the least recently heard from, beyond input.max_streams (lowered since)")
    if note:
        log.warning("%s", note)
        return f"restored {len(daemon.engine.names)} streams; {note}"
    return f"restored {len(daemon.engine.names)} streams"


def save(daemon: Daemon) -> None:
    """Write the checkpoint (atomically); a failure to write is counted and logged, the last good file stays."""
    if not daemon.checkpoint_path:
        return
    arrays, meta = daemon.engine.snapshot()
    meta.update(bundle_sha256=daemon.bundle_hash, backend=daemon.model.backend, saved_at=time.time(),
                daemon_counters={**daemon.counters, "checkpoints": daemon.counters["checkpoints"] + 1},
                registry=daemon.registry.state())
    try:
        checkpoint.save(daemon.checkpoint_path, arrays, meta)
    except OSError as exc:  # a full SD card, a read-only mount: the daemon goes on; the last good file stays
        daemon.counters["checkpoint_errors"] += 1
        log.warning("could not write the checkpoint %s: %s", daemon.checkpoint_path, exc)
        return
    daemon.counters["checkpoints"] += 1
