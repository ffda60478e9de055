"""Keep TensorFlow's C++ and deprecation chatter off the user's terminal."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def tensorflow_quiet() -> Iterator[list[str]]:
    """Send file descriptor 2 to a temporary file for the block; yield a list that receives its text.

    The captured text is what TensorFlow printed; callers put it in error messages when a step fails.
    """
    captured: list[str] = []
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode(errors="replace"))
