"""The Redis bus against a real redis-server (the same machinery on the MemoryBus: tests/memory/bus)."""
