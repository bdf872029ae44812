"""Fixtures for the example tests (defined in examples_harness.py, so test modules can import its types)."""

from __future__ import annotations

from .examples_harness import run_example, start_example

__all__ = ["run_example", "start_example"]
