"""Runnable examples for trio_engineio (``python -m examples.<name>``)."""
