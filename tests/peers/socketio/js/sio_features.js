// npm socket.io-client 4.8 against the features of tests/peers/socketio/test_interop_features.py:
// a dynamic namespace (a pattern on the server), the server's emit(callback=) answered by
// socket.io-client's ack function, socket.io-client's emitWithAck, a volatile emit, and
// disconnecting/disconnect seen by the server.
// Usage: node sio_features.js '{"url": "...", "transports": [...] | null}'. Prints one JSON line.
"use strict";

const path = require("path");
const { io } = require(path.join(__dirname, "..", "..", "..", "js", "node_modules", "socket.io-client"));
const { run } = require("./run.js");

const config = JSON.parse(process.argv[2]);
const result = {};
const opts = { reconnection: false, timeout: 5000 };
if (config.transports) opts.transports = config.transports;

function once(socket, event) {
  return new Promise((resolve) => socket.once(event, (...args) => resolve(args)));
}

async function main() {
  const game = io(config.url + "/game-42", opts);
  // The server asks from its connect handler, with a callback: answer with two values.
  const asked = new Promise((resolve) =>
    game.on("ask", (question, ack) => {
      ack(question + "!", 2);
      resolve(question);
    }),
  );
  const volatile = once(game, "tick");
  await once(game, "connect");
  result.asked = await asked;
  result.move = await game.timeout(5000).emitWithAck("move", "e4");
  result.tick = (await volatile)[0];
  await game.timeout(5000).emitWithAck("report");  // the server saw the callback by now
  const refused = io(config.url + "/game-x", { ...opts, forceNew: true });
  result.refused = (await once(refused, "connect_error"))[0].message;
  refused.close();
  game.disconnect();
  result.ok = true;
}

run(main, result);
