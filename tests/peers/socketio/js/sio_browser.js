// Load pages in Debian's headless Chromium (playwright-core) and collect window.sioResult.
// Usage: node sio_browser.js '{"chromium": "/usr/bin/chromium", "urls": ["..."]}'
// Prints one JSON line {"results": [...]} (or {"error": ...}).
"use strict";

const path = require("path");
const { chromium } = require(path.join(__dirname, "..", "..", "..", "js", "node_modules", "playwright-core"));

const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

async function main() {
  const config = JSON.parse(process.argv[2]);
  const browser = await chromium.launch({ executablePath: config.chromium, args: ARGS });
  const results = [];
  try {
    for (const url of config.urls) {
      const page = await browser.newPage();
      const errors = [];
      page.on("pageerror", (err) => errors.push(String(err)));
      await page.goto(url);
      await page.waitForFunction(() => window.sioResult && window.sioResult.done, null, { timeout: 20000 });
      const result = await page.evaluate(() => window.sioResult);
      result.pageErrors = errors;
      results.push(result);
      await page.close();
    }
  } finally {
    await browser.close();
  }
  return results;
}

main().then(
  (results) => console.log(JSON.stringify({ results })),
  (error) => {
    console.log(JSON.stringify({ error: String(error && error.stack || error) }));
    process.exit(1);
  },
);
