"""edge-lstm: streaming LSTM inference, one sample at a time, for many streams at once."""

from edge_lstm.errors import BackendUnavailableError, BundleError, EdgeLSTMError, UnsupportedModelError
from edge_lstm.runtime.bundle import Bundle, read_bundle
from edge_lstm.runtime.model import Model, StreamBank, load

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "Bundle",
    "BundleError",
    "EdgeLSTMError",
    "Model",
    "StreamBank",
    "UnsupportedModelError",
    "__version__",
    "load",
    "read_bundle",
]
