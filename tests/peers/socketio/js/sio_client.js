// npm socket.io-client 4.8 against our Socket.IO server (tests/peers/socketio/app.py).
// Usage: node sio_client.js '{"url": "...", "transports": ["polling"] | null}'
// Prints one JSON line: what each scenario observed.
"use strict";

const path = require("path");
const { io } = require(path.join(__dirname, "..", "..", "..", "js", "node_modules", "socket.io-client"));
const { run } = require("./run.js");

const config = JSON.parse(process.argv[2]);
const result = { steps: [] };
const opts = { reconnection: false, timeout: 5000 };
if (config.transports) opts.transports = config.transports;

function once(socket, event) {
  return new Promise((resolve) => socket.once(event, (...args) => resolve(args)));
}

// Emit with an ack; resolve with every argument of the ack (emitWithAck keeps only the first).
function call(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(5000).emit(event, ...args, (err, ...reply) => (err ? reject(err) : resolve(reply)));
  });
}

function hex(buf) {
  return Buffer.from(buf).toString("hex");
}

async function main() {
  const root = io(config.url, { ...opts, auth: { token: "ok" } });
  root.on("question", (q, ack) => ack({ answer: q * 2 }));
  await once(root, "connect");
  result.rootId = root.id;
  result.engineId = root.io.engine.id;

  // Events with binary attachments nested in objects, acked back.
  const payload = { nested: { bin: Buffer.from([1, 2, 3]), list: [Buffer.from([255]), "x"] } };
  const echoed = await call(root, "echo", "a", payload, 7);
  result.echo = [echoed[0], hex(echoed[1].nested.bin), hex(echoed[1].nested.list[0]), echoed[1].nested.list[1], echoed[2]];

  // Server -> client call inside a handler: ack both ways.
  result.ask = await root.timeout(5000).emitWithAck("ask", 21);

  // A second namespace on the same engine session; its connect handler emits first.
  const chat = io(config.url + "/chat", opts);
  const welcome = once(chat, "welcome");
  await once(chat, "connect");
  result.welcome = (await welcome)[0].sid === chat.id;
  result.sameEngine = chat.io.engine.id === root.io.engine.id;

  // Rooms: a second client (its own engine session) in /chat; the room excludes the sender.
  const other = io(config.url + "/chat", { ...opts, forceNew: true });
  await once(other, "connect");
  result.joined = await chat.timeout(5000).emitWithAck("join", "r");
  await other.timeout(5000).emitWithAck("join", "r");
  const got = once(other, "room_msg");
  let senderGot = false;
  chat.on("room_msg", () => { senderGot = true; });
  chat.emit("to_room", "r", { hi: Buffer.from("yo") });
  result.roomMsg = hex((await got)[0].hi);
  await new Promise((r) => setTimeout(r, 200));
  result.senderGot = senderGot;

  // Refused connect (ConnectionRefusedError with data), unknown namespace, bad auth.
  const priv = io(config.url + "/private", opts);
  const [err] = await once(priv, "connect_error");
  result.refused = { message: err.message, data: err.data };
  const nope = io(config.url + "/nope", opts);
  result.invalid = (await once(nope, "connect_error"))[0].message;
  const badAuth = io(config.url, { ...opts, forceNew: true, auth: { token: "no" } });
  result.badAuth = (await once(badAuth, "connect_error"))[0].message;
  badAuth.close();

  // After all that, the root namespace still works and reports its transport.
  if (!config.transports) {
    if (root.io.engine.transport.name !== "websocket") await once(root.io.engine, "upgrade");
  }
  result.transport = root.io.engine.transport.name;
  result.lastEcho = await root.timeout(5000).emitWithAck("echo", "end");
  chat.disconnect();
  other.disconnect();
  root.disconnect();
  result.ok = true;
}

run(main, result);
