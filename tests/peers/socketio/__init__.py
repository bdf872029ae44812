"""Socket.IO against real peers: npm socket.io and socket.io-client, python-socketio, Chromium, the
hypercorn command line, two nodes on a real Redis.
"""
