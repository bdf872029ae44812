"""A browser chat room on Socket.IO (``python -m examples.socketio_chat``)."""
