#!/usr/bin/env node
// Drive Debian's Chromium (headless) with playwright-core.
//
// Usage: node browser.js '<json config>'
//   chromium     path to the browser (/usr/bin/chromium)
//   timeoutMs    overall limit
//   mode "chat": url (the chat demo), message (what to type), screenshot (PNG path)
//     -> waits for #status[data-transport=websocket], sends the message through the form,
//        waits for it in #log, takes the screenshot
//   mode "pages": pages [{name, url}] -> loads each page and waits for window.eioResult.done,
//     returning each page's eioResult plus the HTTP statuses and failed requests it saw
//     towards any /engine.io/ URL
// Prints one JSON line; exit 0 unless the driver itself failed.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const common = require("./common.js");

const { chromium } = common.requirePeer("playwright-core");

const config = JSON.parse(process.argv[2] || "{}");
const ARGS = common.CHROMIUM_ARGS;

function watch(page) {
  const seen = { console: [], pageErrors: [], engineio: [], failed: [] };
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") seen.console.push(`${msg.type()}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => seen.pageErrors.push(String(err)));
  page.on("response", (response) => {
    const url = response.url();
    if (url.includes("/engine.io/")) {
      seen.engineio.push({ method: response.request().method(), status: response.status(), url });
    }
  });
  page.on("requestfailed", (request) => {
    const failure = request.failure();
    seen.failed.push({ url: request.url(), error: failure ? failure.errorText : null });
  });
  page.on("websocket", (ws) => {
    seen.engineio.push({ method: "WEBSOCKET", status: null, url: ws.url() });
  });
  return seen;
}

async function chat(context, result) {
  const page = context.pages()[0] || (await context.newPage());
  const seen = watch(page);
  result.seen = seen;
  await page.goto(config.url);
  await page.waitForSelector('#status[data-transport="websocket"][data-state="open"]', {
    timeout: config.stepMs || 15000,
  });
  result.statusBefore = await page.textContent("#status");
  await page.fill("#text", config.message);
  await page.click('#say button[type="submit"]');
  await page.waitForFunction(
    (text) => [...document.querySelectorAll("#log li")].some((li) => li.textContent.endsWith(`: ${text}`)),
    config.message,
    { timeout: config.stepMs || 15000 },
  );
  result.log = await page.$$eval("#log li", (items) => items.map((li) => li.textContent));
  result.status = await page.$eval("#status", (el) => ({
    text: el.textContent,
    transport: el.dataset.transport,
    state: el.dataset.state,
  }));
  result.inputAfter = await page.inputValue("#text");
  fs.mkdirSync(path.dirname(config.screenshot), { recursive: true });
  await page.screenshot({ path: config.screenshot, fullPage: true });
  result.screenshot = config.screenshot;
}

async function pages(context, result) {
  result.pages = {};
  for (const { name, url } of config.pages) {
    const page = await context.newPage();
    const seen = watch(page);
    await page.goto(url);
    let outcome;
    try {
      await page.waitForFunction(() => window.eioResult && window.eioResult.done, null, {
        timeout: config.stepMs || 15000,
      });
      outcome = await page.evaluate(() => window.eioResult);
    } catch (err) {
      outcome = { done: false, waitError: String(err), partial: await page.evaluate(() => window.eioResult) };
    }
    result.pages[name] = { ...outcome, seen };
    await page.close();
  }
}

async function main() {
  const started = Date.now();
  const result = { ok: false };
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "trio-engineio-chromium-"));
  const timer = setTimeout(() => {
    result.error = "timed out";
    common.printResult(result);
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
    result.browserVersion = context.browser() ? context.browser().version() : null;
    if (config.mode === "chat") await chat(context, result);
    else await pages(context, result);
    result.ok = true;
  } catch (err) {
    result.error = String(err && err.stack ? err.stack : err);
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
    clearTimeout(timer);
  }
  result.durationMs = Date.now() - started;
  common.printResult(result);
}

main();
