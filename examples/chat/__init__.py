"""A browser chat room on trio_engineio (``python -m examples.chat``)."""
