"""A latency page and server on trio_engineio (``python -m examples.latency``)."""
