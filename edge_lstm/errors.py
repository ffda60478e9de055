"""Exceptions raised by the runtime. Each message names what is wrong."""


class EdgeLSTMError(Exception):
    """Base class of every error edge-lstm raises on purpose."""


class BundleError(EdgeLSTMError):
    """A bundle is missing, corrupted, truncated, inconsistent or of an unknown format."""


class BackendUnavailableError(EdgeLSTMError):
    """A backend was asked for that is unknown or whose dependencies are not installed."""


class UnsupportedModelError(EdgeLSTMError):
    """A model contains something that cannot run one sample at a time."""
