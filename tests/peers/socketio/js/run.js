// Runs a peer script's async main(): prints `result` as one JSON line and exits 0, or with
// result.error set and exit 1 when main() fails or takes longer than timeoutMs.
"use strict";

function run(main, result, timeoutMs = 20000) {
  const timer = setTimeout(() => {
    result.error = "timeout";
    console.log(JSON.stringify(result));
    process.exit(1);
  }, timeoutMs);
  main().then(
    () => {
      clearTimeout(timer);
      console.log(JSON.stringify(result));
      setTimeout(() => process.exit(0), 100); // let the last packets (a DISCONNECT) go out
    },
    (error) => {
      clearTimeout(timer);
      result.error = String((error && error.stack) || error);
      console.log(JSON.stringify(result));
      process.exit(1);
    },
  );
}

module.exports = { run };
