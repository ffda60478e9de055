"""The streaming core: samples in, batched LSTM steps, anomaly and forecast events out. Pure; no I/O."""
