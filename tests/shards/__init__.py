"""Sharding over RabbitMQ: topology, snapshots, workers handing shards over."""
