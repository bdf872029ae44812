"""Interop tests against real peers (npm engine.io-client, python-engineio, Chromium)."""
