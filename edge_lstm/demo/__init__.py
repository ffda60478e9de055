"""`edge-lstm demo`: simulated machines → MQTT → the daemon → anomaly and forecast events → a report."""
