"""Benchmarks of trio_engineio against a raw ASGI ceiling and python-engineio.

Run ``python -m benchmarks --help``. Everything here is a development tool: it is not
part of the installed package.
"""
