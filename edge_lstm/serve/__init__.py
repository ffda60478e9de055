"""The MQTT daemon: configuration, intake, payloads, the broker connection, outbox and checkpoints."""
