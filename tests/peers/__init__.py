"""Tests against real peers in their own processes: Engine.IO clients (npm engine.io-client,
python-engineio, Chromium), a real Redis, an nginx deployment, and the examples run as
their docstrings say. A package, so that its modules' names cannot clash with the rest.
"""
