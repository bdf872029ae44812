// The scale-out chat page: like examples/chat/static/chat.js, and it shows the node of each event.
(function () {
  const status = document.getElementById("status");
  const log = document.getElementById("log");
  const form = document.getElementById("say");
  const input = document.getElementById("text");
  const socket = eio(window.location.origin);
  let name = "";
  let node = "";

  function show(text, system) {
    const item = document.createElement("li");
    item.textContent = text;
    if (system) item.className = "system";
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  function showStatus() {
    status.textContent = socket.readyState === "open"
      ? `connected as ${name || "…"} to node ${node || "…"} over ${socket.transport.name}`
      : socket.readyState;
    status.dataset.transport = socket.transport ? socket.transport.name : "";
    status.dataset.state = socket.readyState;
  }

  socket.on("open", showStatus);
  socket.on("upgrade", showStatus);
  socket.on("close", (reason) => { showStatus(); show(`disconnected: ${reason}`, true); });
  socket.on("message", (data) => {
    const event = JSON.parse(data);
    if (event.type === "welcome") { name = event.name; node = event.node; showStatus(); }
    else if (event.type === "joined") show(`${event.name} joined on node ${event.node}`, true);
    else if (event.type === "left") show(`${event.name} left node ${event.node}`, true);
    else if (event.type === "said") show(`${event.name} (node ${event.node}): ${event.text}`, false);
  });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (input.value.trim() && socket.readyState === "open") socket.send(input.value);
    input.value = "";
  });
})();
