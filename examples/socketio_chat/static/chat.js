// The Socket.IO chat page: events say/switch (acked), said/joined/left/welcome from the server.
(function () {
  const status = document.getElementById("status");
  const log = document.getElementById("log");
  const form = document.getElementById("say");
  const input = document.getElementById("text");
  const select = document.getElementById("room");
  const socket = io({ auth: { name: new URLSearchParams(location.search).get("name") || "" } });
  let name = "";

  function show(text, system) {
    const item = document.createElement("li");
    item.textContent = text;
    if (system) item.className = "system";
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  function showStatus() {
    const transport = socket.io.engine ? socket.io.engine.transport.name : "";
    status.textContent = socket.connected ? `connected as ${name || "…"} over ${transport}` : "disconnected";
    status.dataset.transport = transport;
    status.dataset.state = socket.connected ? "open" : "closed";
  }

  socket.on("connect", () => {
    showStatus();
    socket.io.engine.on("upgrade", showStatus);
  });
  socket.on("disconnect", (reason) => { showStatus(); show(`disconnected: ${reason}`, true); });
  socket.on("connect_error", (err) => show(`cannot connect: ${err.message}`, true));
  socket.on("welcome", (event) => {
    name = event.name;
    select.replaceChildren(...event.rooms.map((room) => new Option(room, room, false, room === event.room)));
    showStatus();
  });
  socket.on("joined", (event) => show(`${event.name} joined ${event.room}`, true));
  socket.on("left", (event) => show(`${event.name} left ${event.room}`, true));
  socket.on("said", (event) => show(`${event.name}: ${event.text}`, false));

  select.addEventListener("change", async () => {
    const room = await socket.timeout(5000).emitWithAck("switch", select.value);
    show(`you are in ${room}`, true);
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = input.value;
    input.value = "";
    if (text.trim() && socket.connected) {
      const listeners = await socket.timeout(5000).emitWithAck("say", text);
      status.dataset.lastAck = String(listeners);
    }
  });
})();
