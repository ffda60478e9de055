"""RabbitMQ's side of sharding, declared idempotently by every worker (or ``edge-lstm shards init``):

- sensors publish over MQTT; RabbitMQ's MQTT plugin puts each message on ``amq.topic`` with the topic as routing
  key, ``/`` written ``.`` (``sensors/dev7/temp`` -> ``sensors.dev7.temp``);
- ``amq.topic`` is bound, for each of the daemon's ``input.subscribe`` filters, to ``<prefix>.shards``, an
  ``x-consistent-hash`` exchange that sends every routing key to one of N shard queues, always the same one;
- ``<prefix>.shard.<k>``: quorum queues (replicated on a cluster) with a single active consumer, so one worker at a
  time holds a shard and another takes over when it dies;
- ``<prefix>.state.<k>``: per shard, the newest snapshot of its streams' state (``x-max-length`` 1).

Pure but for :func:`declare`, which takes a pika channel.
"""

from __future__ import annotations

from typing import Any

SHARD_WEIGHT = "1"  # each shard queue's share of the hash ring (equal shares)


def mqtt_to_routing_key(topic: str) -> str:
    """The routing key RabbitMQ's MQTT plugin gives an MQTT topic: ``/`` and ``.`` swap places.

    >>> mqtt_to_routing_key("sensors/dev7/temp")
    'sensors.dev7.temp'
    >>> mqtt_to_routing_key("sensors/pump.1/+")
    'sensors.pump/1.*'
    """
    swapped = topic.translate(str.maketrans({"/": ".", ".": "/"}))
    return ".".join("*" if level == "+" else level for level in swapped.split("."))


def routing_key_to_mqtt(key: str) -> str:
    """The MQTT topic of a routing key (the inverse of :func:`mqtt_to_routing_key` for topics without wildcards).

    >>> routing_key_to_mqtt("sensors.pump/1.temp")
    'sensors/pump.1/temp'
    """
    return key.translate(str.maketrans({"/": ".", ".": "/"}))


def shard_queue(prefix: str, shard: int) -> str:
    return f"{prefix}.shard.{shard}"


def state_queue(prefix: str, shard: int) -> str:
    return f"{prefix}.state.{shard}"


def hash_exchange(prefix: str) -> str:
    return f"{prefix}.shards"


def own_shards(shards: int, workers: int, index: int) -> list[int]:
    """The shards worker ``index`` of ``workers`` registers on first (and so holds while it runs).

    >>> own_shards(8, 3, 1)
    [1, 4, 7]
    """
    return [k for k in range(shards) if k % workers == index]


def declare(channel: Any, prefix: str, shards: int, subscribe: list[str]) -> None:
    """Declare (idempotently) the exchange, its bindings from ``amq.topic`` and every shard's two queues."""
    exchange = hash_exchange(prefix)
    channel.exchange_declare(exchange, exchange_type="x-consistent-hash", durable=True)
    for topic_filter in subscribe:
        channel.exchange_bind(destination=exchange, source="amq.topic", routing_key=mqtt_to_routing_key(topic_filter))
    for k in range(shards):
        channel.queue_declare(shard_queue(prefix, k), durable=True,
                              arguments={"x-queue-type": "quorum", "x-single-active-consumer": True})
        channel.queue_bind(shard_queue(prefix, k), exchange, routing_key=SHARD_WEIGHT)
        channel.queue_declare(state_queue(prefix, k), durable=True,
                              arguments={"x-queue-type": "quorum", "x-max-length": 1, "x-overflow": "drop-head"})
