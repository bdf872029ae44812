// npm socket.io 4.8's server with the behaviour of tests/peers/socketio/app.py, for our client's tests.
// Binds 127.0.0.1 on a free port, prints {"port": N} on stdout, exits when stdin closes.
"use strict";

const http = require("http");
const path = require("path");
const { Server } = require(path.join(__dirname, "..", "..", "..", "js", "node_modules", "socket.io"));

const httpServer = http.createServer();
const io = new Server(httpServer, { pingInterval: 5000, pingTimeout: 5000 });

io.use((socket, next) => {
  if (socket.handshake.auth && socket.handshake.auth.token === "ok") return next();
  const err = new Error("Connection rejected by server");
  next(err);
});

function common(socket, nsp) {
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack([...socket.rooms]);
  });
  socket.on("to_room", (room, data) => socket.to(room).emit("room_msg", data));
}

io.on("connection", (socket) => {
  socket.on("echo", (...args) => {
    const ack = args.pop();
    ack(...args);
  });
  socket.on("ask", async (q, ack) => {
    const answer = await socket.timeout(10000).emitWithAck("question", q);
    ack(answer);
  });
  socket.on("kick", () => socket.disconnect());
  socket.on("drop", () => socket.conn.close());
  common(socket, io);
});

const chat = io.of("/chat");
chat.on("connection", (socket) => {
  socket.emit("welcome", { sid: socket.id });
  common(socket, chat);
});

io.of("/private").use((socket, next) => {
  const err = new Error("Not authorized");
  err.data = { code: 401 };
  next(err);
});

httpServer.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: httpServer.address().port }));
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
