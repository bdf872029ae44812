"""Tests of the bus between server processes (in memory, and over a real redis-server)."""
