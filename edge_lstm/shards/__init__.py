"""Streams sharded over several workers through RabbitMQ: the topology (topology.py), snapshots of a shard's state
(snapshots.py) and the worker (worker.py). docs/scaling.md says how to run it."""
