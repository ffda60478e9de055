"""Topics: stream ids from the sensors' topics (a template over their levels: ``input.stream``, ``input.feature``)
and the topics events are published on. Pure."""

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


def event_topic(prefix: str, kind: str, stream: str) -> str:
    """Where an event of ``kind`` (anomaly, forecast) about ``stream`` is published: ``<prefix>/<kind>/<stream>``,
    the prefix being ``edge-lstm/<node>`` (deploy/telegraf.conf parses these levels).

    >>> event_topic("edge-lstm/edge-1", "anomaly", "pump-7/pressure")
    'edge-lstm/edge-1/anomaly/pump-7/pressure'
    """
    return f"{prefix}/{kind}/{stream}"
