// npm socket.io 4.8 answering the Socket.IO benchmark events (see sio_app.py), for
// `python -m benchmarks.socketio_bench`. Usage: node sio_node_server.js PORT
// Uses tests/js/node_modules (`npm ci` in tests/js). Heartbeats: EIO_PING_INTERVAL_MS /
// EIO_PING_TIMEOUT_MS (25 s / 20 s).
"use strict";

const http = require("http");
const path = require("path");
const { Server } = require(path.join(__dirname, "..", "tests", "js", "node_modules", "socket.io"));

const port = Number(process.argv[2]);
const httpServer = http.createServer();
const io = new Server(httpServer, {
  pingInterval: Number(process.env.EIO_PING_INTERVAL_MS || 25000),
  pingTimeout: Number(process.env.EIO_PING_TIMEOUT_MS || 20000),
  maxHttpBufferSize: 1000000,
  cors: { origin: "*" },
});

io.on("connection", (socket) => {
  socket.on("echo", (data) => socket.emit("echo", data));
  socket.on("call", (data, ack) => ack(data));
  socket.on("fanout", (n, size, ack) => {
    const payload = "x".repeat(size);
    for (let i = 0; i < n; i++) io.emit("b", payload);
    ack(n);
  });
});

httpServer.listen(port, "127.0.0.1");
process.on("SIGINT", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
