#!/usr/bin/env node
// engine.io-client (Node) against an Engine.IO echo server: send a plan of numbered text and
// binary messages, check that every echo comes back intact and in order, then close.
//
// Usage: node echo_client.js '<json config>'
//   url         server base URL (http://127.0.0.1:PORT)
//   transports  e.g. ["polling"], ["websocket"]; null/absent = the client's default
//   texts, binaries, maxBinary, seed   the message plan (see common.js)
//   window      while the socket is on polling: most wire bytes sent and not yet echoed
//               (null = no limit); keeps each POST far below maxPayload (see the tests)
//   phases      {open, tick, upgrading, upgrade}: how many messages may be sent in the
//               `open` handler, one macrotask later, in the `upgrading` and in the `upgrade`
//               handlers; the rest once the upgrade is over. null = everything at once.
//   burst       {count, size}: instead of the plan, send `count` binaries of `size` bytes
//               (index first, then filler) at once when the socket opens
//   listen      N: send nothing; expect the server to push N messages (common.pushMessage)
//               and then close the session; report what arrived and the close reason
//   timeoutMs   give up (exit 2) after this long
// Prints one JSON line with the outcome; exit code 0 when the run completed as configured.
"use strict";

const common = require("./common.js");

const { Socket } = common.requirePeer("engine.io-client");

const config = JSON.parse(process.argv[2] || "{}");
const started = Date.now();
const result = {
  sid: null,
  openTransport: null,
  upgrading: false,
  upgraded: false,
  upgradeErrors: [],
  errors: [],
  sent: { text: 0, binary: 0 },
  sentBy: {},
  received: { text: 0, binary: 0 },
  receivedBytes: 0,
  mismatches: 0,
  firstMismatch: null,
  transportAtClose: null,
  closeReason: null,
  closeDescription: null,
  timedOut: false,
  durationMs: null,
};

const opts = {};
if (config.transports) opts.transports = config.transports;
if (config.upgrade === false) opts.upgrade = false;
const socket = new Socket(config.url, opts);

const plan = config.listen
  ? Array.from({ length: config.listen }, (_, k) => common.pushMessage(k))
  : config.burst
  ? Array.from({ length: config.burst.count }, (_, i) => {
      const buf = Buffer.alloc(config.burst.size, i & 0xff);
      buf.writeUInt32BE(i, 0);
      return buf;
    })
  : common.makePlan(config);
let sent = 0;
let receivedCount = 0;
let outstanding = 0;
let gate = 0;
let closing = false;
let done = false;

function label() {
  if (socket.upgrading) return "upgrading";
  return socket.transport ? socket.transport.name : "none";
}

function pump(where) {
  while (sent < gate && sent < plan.length) {
    const message = plan[sent];
    const size = common.wireSize(message);
    const polling = socket.transport && socket.transport.name === "polling" && !socket.upgrading;
    if (config.window && polling && outstanding > 0 && outstanding + size > config.window) break;
    socket.send(message);
    outstanding += size;
    sent++;
    result.sent[typeof message === "string" ? "text" : "binary"]++;
    const key = where || label();
    result.sentBy[key] = (result.sentBy[key] || 0) + 1;
  }
}

function finish(code) {
  if (done) return;
  done = true;
  clearTimeout(timer);
  result.durationMs = Date.now() - started;
  common.printResult(result);
  // Let the transport finish its last request (the CLOSE packet over polling), then leave.
  setTimeout(() => process.exit(code), 300);
}

const timer = setTimeout(() => {
  result.timedOut = true;
  result.outstanding = outstanding;
  result.sentTotal = sent;
  result.receivedTotal = receivedCount;
  result.transportAtClose = socket.transport ? socket.transport.name : null;
  finish(2);
}, config.timeoutMs || 60000);

socket.on("open", () => {
  result.sid = socket.id;
  result.openTransport = socket.transport.name;
  const phases = config.phases;
  gate = config.listen ? 0 : phases ? phases.open : plan.length;
  pump("open");
  if (phases) {
    setImmediate(() => {
      gate += phases.tick;
      pump("tick");
    });
  }
});

socket.on("upgrading", () => {
  result.upgrading = true;
  if (config.phases) {
    gate += config.phases.upgrading;
    pump("upgrading-handler");
  }
});

socket.on("upgrade", (transport) => {
  result.upgraded = true;
  result.upgradedTo = transport.name;
  if (config.phases) {
    gate += config.phases.upgrade;
    pump("upgrade-handler");
    setTimeout(() => {
      gate = plan.length;
      pump();
    }, 0);
  }
});

socket.on("upgradeError", (err) => result.upgradeErrors.push(String(err && err.message)));
socket.on("error", (err) => result.errors.push(String(err && err.message ? err.message : err)));

socket.on("message", (data) => {
  const index = receivedCount++;
  const expected = plan[index];
  if (typeof data === "string") result.received.text++;
  else result.received.binary++;
  const buf = typeof data === "string" ? null : common.toBuffer(data);
  result.receivedBytes += buf ? buf.length : Buffer.byteLength(data);
  if (!common.sameMessage(expected, data)) {
    result.mismatches++;
    if (!result.firstMismatch) {
      result.firstMismatch = { index, expected: common.describe(expected), got: common.describe(data) };
    }
  }
  if (expected !== undefined) outstanding -= common.wireSize(expected);
  if (receivedCount === plan.length && !config.listen) {
    result.transportAtClose = socket.transport.name;
    closing = true;
    socket.close();
  } else {
    pump();
  }
});

socket.on("close", (reason, description) => {
  result.closeReason = reason;
  if (description) {
    result.closeDescription = String(description.message || description.description || description);
    if (description.context && description.context.status) result.closeStatus = description.context.status;
    else if (description.description && description.description.status) {
      result.closeStatus = description.description.status;
    }
  }
  if (!result.transportAtClose) result.transportAtClose = socket.transport ? socket.transport.name : null;
  result.sentTotal = sent;
  result.receivedTotal = receivedCount;
  finish(closing || config.burst || config.listen ? 0 : 1);
});
