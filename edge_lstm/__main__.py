"""``python -m edge_lstm`` is the ``edge-lstm`` command."""

import sys

from edge_lstm.cli import main

sys.exit(main())
