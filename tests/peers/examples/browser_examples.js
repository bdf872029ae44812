#!/usr/bin/env node
// Drive the browser examples in Debian's headless Chromium with playwright-core.
//
// Usage: node browser_examples.js '<json config>'
//   chromium    path to the browser (/usr/bin/chromium)
//   timeoutMs   overall limit (the driver prints {"ok": false, "error": "timed out"} and exits 2)
//   stepMs      limit for each wait on the page
//   screenshot  PNG path
//   mode "chat":    url, message -> opens two pages (two chat members), waits until both are
//                   connected; the first sends `message` through the form; waits until both
//                   logs show it
//   mode "latency": url (with ?count=N) -> waits for the summary table's data-done="true"
// Prints one JSON line: {"ok": true, ...what the pages showed...} or {"ok": false, "error": ...}.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");

const common = require(path.join(__dirname, "..", "clients", "js", "common.js"));
const { chromium } = common.requirePeer("playwright-core");

const config = JSON.parse(process.argv[2] || "{}");
const STEP = { timeout: config.stepMs || 15000 };
const ARGS = common.CHROMIUM_ARGS;

function watch(page, problems) {
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") problems.push(`console ${msg.type()}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err}`));
}

async function status(page) {
  return page.$eval("#status", (el) => ({ text: el.textContent, transport: el.dataset.transport, state: el.dataset.state }));
}

async function chatLog(page) {
  return page.$$eval("#log li", (items) => items.map((li) => li.textContent));
}

async function chat(context, result) {
  const alice = await context.newPage();
  const bob = await context.newPage();
  watch(alice, result.problems);
  watch(bob, result.problems);
  // A browser starts on polling and must end up upgraded to websocket.
  const open = '#status[data-state="open"][data-transport="websocket"]';
  await alice.goto(config.url);
  await alice.waitForSelector(open, STEP);
  await bob.goto(config.url);
  await bob.waitForSelector(open, STEP);
  // Alice sees Bob join before she speaks, so both are members when the message goes out.
  await alice.waitForFunction(() => [...document.querySelectorAll("#log li")].some((li) => li.textContent.includes("(2 here)")), null, STEP);
  await alice.fill("#text", config.message);
  await alice.click('#say button[type="submit"]');
  const said = (text) => [...document.querySelectorAll("#log li")].some((li) => li.textContent.endsWith(`: ${text}`));
  await alice.waitForFunction(said, config.message, STEP);
  await bob.waitForFunction(said, config.message, STEP);
  result.alice = { status: await status(alice), log: await chatLog(alice), inputAfter: await alice.inputValue("#text") };
  result.bob = { status: await status(bob), log: await chatLog(bob) };
  fs.mkdirSync(path.dirname(config.screenshot), { recursive: true });
  await bob.screenshot({ path: config.screenshot, fullPage: true });
}

async function latency(context, result) {
  const page = await context.newPage();
  watch(page, result.problems);
  await page.goto(config.url);
  await page.waitForSelector('#summary[data-done="true"]', STEP);
  result.summary = await page.$eval("#summary", (el) => ({ ...el.dataset }));
  result.shown = await page.$$eval("#summary td", (cells) => Object.fromEntries(cells.map((td) => [td.id, td.textContent])));
  result.bars = await page.$$eval("#bars div", (bars) => bars.length);
  result.status = await status(page);
  result.againEnabled = await page.isEnabled("#again");
  fs.mkdirSync(path.dirname(config.screenshot), { recursive: true });
  await page.screenshot({ path: config.screenshot, fullPage: true });
}

async function main() {
  const result = { ok: false, problems: [] };
  const started = Date.now();
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "trio-engineio-examples-"));
  const timer = setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ ...result, ok: false, error: "timed out" })}\n`);
    process.exit(2);
  }, config.timeoutMs || 60000);
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: config.chromium,
      headless: true,
      args: ARGS,
      viewport: { width: 900, height: 700 },
    });
    if (config.mode === "chat") await chat(context, result);
    else if (config.mode === "latency") await latency(context, result);
    else throw new Error(`unknown mode ${config.mode}`);
    result.ok = true;
  } catch (err) {
    result.error = String(err && err.stack ? err.stack : err);
    // What each open page showed when it failed, for the test's failure message.
    result.pagesAtError = [];
    for (const page of context ? context.pages() : []) {
      result.pagesAtError.push(
        await page
          .evaluate(() => ({
            url: location.href,
            status: document.getElementById("status") && document.getElementById("status").textContent,
            log: [...document.querySelectorAll("#log li")].map((li) => li.textContent),
          }))
          .catch((e) => String(e)),
      );
    }
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
    clearTimeout(timer);
  }
  result.durationMs = Date.now() - started;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main();
