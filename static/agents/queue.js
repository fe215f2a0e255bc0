// The waiting queue: re-rendered from each snapshot the server pushes; waits tick every second.
// A new hand-off raises a browser notification and a short sound while the page is in the
// background.
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

  // --- Alerts: ids already seen waiting; the first snapshot only fills it.
  let seen = null;
  function alertNew(conversations) {
    const waiting = conversations.filter((c) => c.status === "waiting");
    const fresh = seen ? waiting.filter((c) => !seen.has(c.id)) : [];
    seen = new Set(waiting.map((c) => c.id));
    if (!fresh.length || !(document.hidden || !document.hasFocus())) return;
    table.dataset.alerts = String(Number(table.dataset.alerts || 0) + fresh.length);
    beep();
    if ("Notification" in window && Notification.permission === "granted") {
      const first = fresh[0];
      const note = new Notification(fresh.length > 1 ? `${fresh.length} customers want a human` : "A customer wants a human", {
        body: `${first.customer}: ${first.last_customer_text || "(no message)"}`.slice(0, 180),
        tag: "supportbot-handoff",
      });
      note.onclick = () => { window.focus(); note.close(); };
    }
  }

  let audio = null;
  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.4);
    } catch (e) { /* no audio here: the notification still shows */ }
  }

  const permit = document.getElementById("notify");
  if (permit && "Notification" in window && Notification.permission === "default") {
    permit.hidden = false;
    permit.addEventListener("click", () => {
      Notification.requestPermission().then(() => { permit.hidden = true; });
      // A click also lets the page play sounds later (browsers need a gesture first).
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    });
  }

  function render(conversations) {
    alertNew(conversations);
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
      // "?take=1": the conversation page claims it on opening.
      link.setAttribute("href", linkTemplate.replace("00000000-0000-0000-0000-000000000000", c.id) + (c.agent ? "" : "?take=1"));
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
