"""Stream ids from MQTT topics: a template over the topic's levels (``input.stream``, ``input.feature``). Pure."""

from __future__ import annotations

from edge_lstm.serve.payloads import PayloadError


def stream_name(template: str, topic: str) -> str:
    """Stream id from a topic by a template over its levels.

    >>> stream_name("{1}/{2}", "sensors/pump-7/pressure")
    'pump-7/pressure'
    """
    try:
        return template.format(*topic.split("/"))
    except (IndexError, KeyError, ValueError):
        raise PayloadError(f"topic {topic!r} does not fit the stream template {template!r}") from None
