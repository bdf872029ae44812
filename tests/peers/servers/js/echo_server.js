#!/usr/bin/env node
// npm engine.io echo server for our client's tests (tests/peers/servers); the package comes from
// tests/js/node_modules (`npm ci` in tests/js).
//
// Usage: node echo_server.js [port] [--ping-interval MS] [--ping-timeout MS]
//          [--max-payload BYTES] [--transports polling,websocket] [--no-upgrades]
//          [--cookie NAME] [--path /engine.io/]
// Every option may also come from the environment: EIO_PORT, EIO_PING_INTERVAL,
// EIO_PING_TIMEOUT, EIO_MAX_PAYLOAD, EIO_TRANSPORTS, EIO_ALLOW_UPGRADES=0,
// EIO_COOKIE, EIO_PATH. Binds 127.0.0.1 only (port 0 = any free port) and prints
// the bound port on stdout as its first line; every message is echoed unchanged.
// Exits on SIGTERM/SIGINT or when stdin closes (so a dead test runner leaves no server).
"use strict";

const http = require("http");
const path = require("path");
const engine = require(path.join(__dirname, "..", "..", "..", "js", "node_modules", "engine.io"));

function parseArgs(argv) {
  const opts = {
    port: process.env.EIO_PORT,
    pingInterval: process.env.EIO_PING_INTERVAL,
    pingTimeout: process.env.EIO_PING_TIMEOUT,
    maxPayload: process.env.EIO_MAX_PAYLOAD,
    transports: process.env.EIO_TRANSPORTS,
    allowUpgrades: process.env.EIO_ALLOW_UPGRADES !== "0",
    cookie: process.env.EIO_COOKIE,
    path: process.env.EIO_PATH,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${arg}`);
      return argv[++i];
    };
    switch (arg) {
      case "--port": opts.port = next(); break;
      case "--ping-interval": opts.pingInterval = next(); break;
      case "--ping-timeout": opts.pingTimeout = next(); break;
      case "--max-payload": opts.maxPayload = next(); break;
      case "--transports": opts.transports = next(); break;
      case "--no-upgrades": opts.allowUpgrades = false; break;
      case "--cookie": opts.cookie = next(); break;
      case "--path": opts.path = next(); break;
      default:
        if (/^\d+$/.test(arg)) opts.port = arg;
        else throw new Error(`unknown argument ${arg}`);
    }
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const serverOpts = { allowUpgrades: opts.allowUpgrades };
if (opts.pingInterval) serverOpts.pingInterval = Number(opts.pingInterval);
if (opts.pingTimeout) serverOpts.pingTimeout = Number(opts.pingTimeout);
if (opts.maxPayload) serverOpts.maxHttpBufferSize = Number(opts.maxPayload);
if (opts.transports) serverOpts.transports = opts.transports.split(",");
if (opts.cookie) serverOpts.cookie = { name: opts.cookie };
if (opts.path) serverOpts.path = opts.path;

const httpServer = http.createServer();
const eio = engine.attach(httpServer, serverOpts);

eio.on("connection", (socket) => {
  socket.on("message", (data) => socket.send(data));
  socket.on("error", (err) => console.error(`socket ${socket.id} error: ${err}`));
});

httpServer.listen(Number(opts.port || 0), "127.0.0.1", () => {
  process.stdout.write(`${httpServer.address().port}\n`);
});

function shutdown() {
  eio.close();
  httpServer.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
process.stdin.on("end", shutdown);
process.stdin.resume();
