// Shared helpers for the interop scripts: where the npm packages are, a seeded PRNG,
// the deterministic message plan, and a JSON result printer.
"use strict";

const crypto = require("crypto");
const path = require("path");

const NODE_MODULES = path.join(__dirname, "..", "..", "..", "js", "node_modules");

// Flags for Debian's Chromium here: headless as root, and no background network traffic
// (this machine's closed network refuses it).
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function requirePeer(name) {
  return require(path.join(NODE_MODULES, name));
}

// mulberry32: small, fast, deterministic.
function prng(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Text alphabet: ASCII, 2-, 3- and 4-byte UTF-8 (a surrogate pair), no control characters
// (the record separator \x1e would split a polling payload) and never valid JSON.
const ALPHABET = [..."abcdefghijklmnopqrstuvwxyz0123456789 -_.:;,!?/é€ü✓", "🙂"];

// The plan: `texts` text and `binaries` binary messages, interleaved at random positions.
// Text i is "t<i>:" + random text; binary j starts with its index (4 bytes, big endian)
// followed by random bytes, total size 4..maxBinary (the largest size appears once).
function makePlan({ texts, binaries, maxBinary, seed, maxText = 200 }) {
  const rand = prng(seed);
  const kinds = Array(texts).fill("t").concat(Array(binaries).fill("b"));
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
  }
  let t = 0;
  let b = 0;
  return kinds.map((kind) => {
    if (kind === "t") {
      const n = Math.floor(rand() * maxText);
      let s = `t${t++}:`;
      for (let k = 0; k < n; k++) s += ALPHABET[Math.floor(rand() * ALPHABET.length)];
      return s;
    }
    const size = b === 0 ? maxBinary : 4 + Math.floor(rand() * (maxBinary - 3));
    const buf = crypto.randomBytes(size);
    buf.writeUInt32BE(b++, 0);
    return buf;
  });
}

// The server-push pattern (also in test_js_client.py): message k is a binary when
// k % 6 == 5 (index k in the first 4 bytes, then bytes k & 0xff, 4 + (k * 997) % 60000
// bytes in all), otherwise the text "s<k>:" followed by k % 50 "x".
function pushMessage(k) {
  if (k % 6 === 5) {
    const buf = Buffer.alloc(4 + ((k * 997) % 60000), k & 0xff);
    buf.writeUInt32BE(k, 0);
    return buf;
  }
  return `s${k}:` + "x".repeat(k % 50);
}

// Binary data as a Buffer, whatever the transport handed us.
function toBuffer(data) {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

function sameMessage(expected, actual) {
  if (typeof expected === "string") return actual === expected;
  const buf = toBuffer(actual);
  return buf !== null && buf.equals(expected);
}

function describe(message) {
  if (typeof message === "string") return `text(${message.length}) ${JSON.stringify(message.slice(0, 40))}`;
  const buf = toBuffer(message);
  if (buf === null) return `${typeof message} ${String(message).slice(0, 40)}`;
  return `binary(${buf.length}) index=${buf.length >= 4 ? buf.readUInt32BE(0) : "?"}`;
}

// Wire size of a message in a polling payload (text: UTF-8 + type; binary: "b" + base64).
function wireSize(message) {
  if (typeof message === "string") return Buffer.byteLength(message) + 2;
  return 2 + 4 * Math.ceil(message.length / 3);
}

function printResult(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

module.exports = { NODE_MODULES, CHROMIUM_ARGS, requirePeer, prng, makePlan, pushMessage, toBuffer, sameMessage, describe, wireSize, printResult };
