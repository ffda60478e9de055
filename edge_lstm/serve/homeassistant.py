"""Home Assistant MQTT discovery (``[homeassistant]``, opt-in): each stream's entities, as retained config messages.

Per stream, under a Home Assistant device per sensor device (the stream id's part before the last ``/``):

- a ``binary_sensor`` (device class ``problem``), on while an incident is open (the anomaly events), with the
  incident's view(s), severity and peak score as attributes;
- a ``sensor`` of the anomaly score (of the events' samples: an incident's opening and closing ones);
- a ``sensor`` of the next forecast value, with its band as attributes.

Every entity is available while the daemon's retained status says ``online`` (its Last Will says
``offline``); ``unique_id`` is built from the node id and the stream id, so it is stable across restarts. An
empty retained message on a config topic removes the entity (when its stream is evicted). Pure; the daemon
publishes what this returns.

>>> [topic for topic, _ in configs("homeassistant", "gw1", "pump-7/pressure")]  # doctest: +NORMALIZE_WHITESPACE
['homeassistant/binary_sensor/gw1/pump-7_pressure_anomaly/config',
 'homeassistant/sensor/gw1/pump-7_pressure_score/config',
 'homeassistant/sensor/gw1/pump-7_pressure_forecast/config']
"""

from __future__ import annotations

import re
from typing import Any

from edge_lstm.detect.operating import device_and_channel


def slug(text: str) -> str:
    """What a discovery topic level and a unique_id may hold: letters, digits, ``_`` and ``-``."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def configs(prefix: str, node: str, stream: str) -> list[tuple[str, dict[str, Any]]]:
    """(config topic, config) of each entity of ``stream`` on daemon ``node``."""
    device, channel = device_and_channel(stream)
    device = device or stream
    events = f"edge-lstm/{node}"
    common = {
        "availability_topic": f"{events}/status", "availability_template": "{{ value_json.state }}",
        "payload_available": "online", "payload_not_available": "offline",
        "device": {"identifiers": [f"edge-lstm_{slug(node)}_{slug(device)}"], "name": device,
                   "manufacturer": "edge-lstm", "model": "streaming LSTM anomaly detection",
                   "via_device": f"edge-lstm_{slug(node)}"},
    }
    anomaly, forecast = f"{events}/anomaly/{stream}", f"{events}/forecast/{stream}"
    entities = {
        ("binary_sensor", "anomaly"): {
            "name": f"{channel} anomaly", "device_class": "problem", "state_topic": anomaly,
            "value_template": "{{ 'ON' if value_json.state == 'open' else 'OFF' }}",
            "json_attributes_topic": anomaly,
            "json_attributes_template": "{{ {'views': value_json.views, 'severity': value_json.severity, "
                                        "'peak_score': value_json.peak_score, 'since': value_json.since} | tojson }}",
        },
        ("sensor", "score"): {
            "name": f"{channel} anomaly score", "state_topic": anomaly, "state_class": "measurement",
            "value_template": "{{ value_json.score | round(3) }}",
        },
        ("sensor", "forecast"): {
            "name": f"{channel} forecast", "state_topic": forecast, "state_class": "measurement",
            "value_template": "{{ value_json['values'][0] }}", "json_attributes_topic": forecast,
            "json_attributes_template": "{{ {'values': value_json['values'], 'lower': value_json.lower, "
                                        "'upper': value_json.upper, 'forecaster': value_json.forecaster} | tojson }}",
        },
    }
    base = slug(stream)
    return [(f"{prefix}/{component}/{slug(node)}/{base}_{what}/config",
             {**entity, **common, "unique_id": f"edge-lstm_{slug(node)}_{base}_{what}",
              "object_id": f"edge_lstm_{slug(node)}_{base}_{what}"})
            for (component, what), entity in entities.items()]
