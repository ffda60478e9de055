"""The model on the device: bundles, layer specs, the stream bank and its kernels (one per backend)."""
