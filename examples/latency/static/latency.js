// The latency page: send "ping <n> <padding>" messages one at a time and time each echo.
// Results are shown in the table (and as data-* attributes the example test reads).
(function () {
  const params = new URLSearchParams(window.location.search);
  const planned = Math.max(1, Math.min(10000, Number(params.get("count")) || 100));
  const status = document.getElementById("status");
  const summary = document.getElementById("summary");
  const bars = document.getElementById("bars");
  const again = document.getElementById("again");
  document.getElementById("planned").textContent = String(planned);

  const socket = eio(window.location.origin);
  let samples = [];
  let sentAt = 0;
  let running = false;

  function percentile(sorted, p) {
    // Nearest-rank percentile: the smallest sample with at least p% of samples at or below it.
    const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
    return sorted[rank - 1];
  }

  function ms(value) { return `${value.toFixed(2)} ms`; }

  function showStatus() {
    status.textContent = socket.readyState === "open"
      ? `connected over ${socket.transport.name}`
      : socket.readyState;
    status.dataset.transport = socket.transport ? socket.transport.name : "";
    status.dataset.state = socket.readyState;
  }

  function showResults() {
    const sorted = [...samples].sort((a, b) => a - b);
    document.getElementById("count").textContent = String(samples.length);
    if (sorted.length) {
      const values = { min: sorted[0], p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] };
      for (const [key, value] of Object.entries(values)) {
        document.getElementById(key).textContent = ms(value);
        summary.dataset[key] = value.toFixed(3);
      }
    }
    summary.dataset.count = String(samples.length);
  }

  function drawBars() {
    bars.replaceChildren();
    const top = Math.max(...samples, 0.001);
    for (const value of samples) {
      const bar = document.createElement("div");
      bar.style.height = `${(100 * value) / top}%`;
      bar.title = ms(value);
      bars.appendChild(bar);
    }
  }

  function ping() {
    sentAt = performance.now();
    socket.send(`ping ${samples.length}`);
  }

  function start() {
    if (running || socket.readyState !== "open") return;
    running = true;
    again.disabled = true;
    samples = [];
    summary.dataset.done = "false";
    showResults();
    ping();
  }

  socket.on("open", () => { showStatus(); start(); });
  socket.on("upgrade", showStatus);
  socket.on("close", (reason) => { showStatus(); status.textContent += ` (${reason})`; running = false; });
  socket.on("message", (data) => {
    if (!running || data !== `ping ${samples.length}`) return;
    samples.push(performance.now() - sentAt);
    if (samples.length % 10 === 0 || samples.length === planned) showResults();
    if (samples.length < planned) {
      ping();
    } else {
      running = false;
      showResults();
      drawBars();
      summary.dataset.transport = socket.transport.name;
      summary.dataset.done = "true";
      again.disabled = false;
    }
  });
  again.addEventListener("click", start);
})();
