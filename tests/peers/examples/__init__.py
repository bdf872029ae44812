"""The examples run as their docstrings say (``python -m examples.NAME``), some in Chromium."""
