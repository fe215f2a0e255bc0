// The waiting queue: re-rendered from each snapshot the server pushes; waits tick every second.
"use strict";
(function () {
  const table = document.getElementById("queue");
  const body = table.querySelector("tbody");
  const linkTemplate = table.dataset.conversationUrl;
  const LATE_SECONDS = 120;

  function waited(since) {
    const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(since)) / 1000));
    if (seconds < 60) return [seconds, `${seconds}s`];
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return [seconds, `${minutes}m ${seconds % 60}s`];
    return [seconds, `${Math.floor(minutes / 60)}h ${minutes % 60}m`];
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function render(conversations) {
    body.replaceChildren();
    if (!conversations.length) {
      const row = body.insertRow();
      row.className = "empty";
      cell(row, "Nobody is waiting.").colSpan = 6;
      return;
    }
    for (const c of conversations) {
      const row = body.insertRow();
      row.dataset.since = c.waiting_since;
      row.dataset.status = c.status;
      cell(row, "").className = "waited";
      cell(row, c.customer);
      cell(row, c.last_customer_text);
      cell(row, c.bot);
      cell(row, (c.agent ? `with ${c.agent}` : "waiting") + (c.customer_told ? " · asked for email" : ""));
      const link = document.createElement("a");
      link.href = linkTemplate.replace("00000000-0000-0000-0000-000000000000", c.id);
      link.textContent = c.agent ? "Open" : "Open & take over";
      cell(row, "").appendChild(link);
    }
    tick();
  }

  function tick() {
    for (const row of body.rows) {
      if (!row.dataset.since) continue;
      const [seconds, label] = waited(row.dataset.since);
      row.cells[0].textContent = label;
      row.classList.toggle("late", row.dataset.status === "waiting" && seconds >= LATE_SECONDS);
    }
  }

  window.agentSocket(table.dataset.ws, {
    indicator: document.getElementById("live"),
    onFrame: (frame) => { if (frame.type === "agent.queue") render(frame.conversations); },
  });
  setInterval(tick, 1000);
  tick();
})();
