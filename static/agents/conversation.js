// One conversation, live: history, the bot's stream, the customer's messages, and replying.
"use strict";
(function () {
  const root = document.getElementById("conversation");
  const chat = document.getElementById("chat");
  const statusLabel = document.getElementById("status");
  const errorBox = document.getElementById("error");
  const form = document.getElementById("reply");
  const typing = document.getElementById("typing");
  const STATUS = { bot: "Bot answering", waiting: "Waiting for an agent", agent: "Agent answering", closed: "Closed" };
  const WHO = { customer: "Customer", assistant: "Bot", agent: "Agent" };
  let lastSeq = 0;
  const bubbles = new Map(); // seq -> element

  function scroll() { chat.scrollTop = chat.scrollHeight; }

  function bubble(seq, role, text, who) {
    let el = bubbles.get(seq);
    if (!el) {
      el = document.createElement("div");
      bubbles.set(seq, el);
      const later = [...bubbles.entries()].filter(([s]) => s > seq).map(([, e]) => e).filter((e) => e.isConnected);
      if (later.length) chat.insertBefore(el, later.reduce((a, b) => (Number(a.dataset.seq) < Number(b.dataset.seq) ? a : b)));
      else chat.appendChild(el);
    }
    el.className = `bubble from-${role}`;
    el.dataset.seq = seq;
    el.replaceChildren();
    if (who) {
      const label = document.createElement("span");
      label.className = "who";
      label.textContent = who;
      el.appendChild(label);
    }
    el.appendChild(document.createTextNode(text));
    lastSeq = Math.max(lastSeq, seq);
    scroll();
    return el;
  }

  function dropBubble(seq) {
    const el = bubbles.get(seq);
    if (el) el.remove();
    bubbles.delete(seq);
    lastSeq = Math.max(lastSeq, seq);
  }

  function showMessage(m) {
    if (m.role === "tool") return;
    if (m.role === "event") {
      const what = (m.event || "").replaceAll("_", " ");
      bubble(m.seq, "event", m.text ? `${what}: ${m.text}` : what + (m.data && m.data.agent ? ` (${m.data.agent})` : ""));
      return;
    }
    // An assistant turn that only called tools has nothing to show (the next turn answers).
    if (m.role === "assistant" && !m.text && m.state !== "streaming") return dropBubble(m.seq);
    if (m.role === "customer") typing.hidden = true;
    const who = m.role === "agent" ? `Agent ${m.agent_name}` : WHO[m.role];
    const el = bubble(m.seq, m.role, m.text, who);
    el.classList.toggle("streaming", m.state === "streaming");
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  function setStatus(status, agentName) {
    statusLabel.textContent = STATUS[status] + (status === "agent" && agentName ? ` (${agentName})` : "");
    root.dataset.status = status;
    root.dataset.agent = agentName || "";
    const mine = status === "agent" && agentName === root.dataset.me;
    for (const button of root.querySelectorAll("button[data-action]")) {
      const action = button.dataset.action;
      button.disabled = status === "closed" || (action === "claim" && mine) || (action === "release" && status === "bot");
    }
    if (form) {
      form.querySelector("textarea").disabled = status === "closed";
      form.querySelector("button").disabled = status === "closed";
    }
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "message": showMessage(frame.message); break;
      case "assistant.started": bubble(frame.seq, "assistant", "", "Bot").classList.add("streaming"); break;
      case "assistant.delta": {
        const el = bubbles.get(frame.seq) || bubble(frame.seq, "assistant", "", "Bot");
        el.classList.add("streaming");
        el.appendChild(document.createTextNode(frame.text));
        scroll();
        break;
      }
      case "assistant.done":
        if (!frame.text) { dropBubble(frame.seq); break; }
        bubble(frame.seq, "assistant", frame.text, "Bot").classList.toggle("streaming", false);
        break;
      case "agent.message": bubble(frame.seq, "agent", frame.text, `Agent ${frame.agent_name}`); break;
      case "tool.started": case "tool.finished": {
        const line = document.createElement("div");
        line.className = "tool-line";
        line.textContent = `🔧 ${frame.label}`;
        chat.appendChild(line);
        scroll();
        break;
      }
      case "status.changed": setStatus(frame.status, frame.agent_name); showError(""); break;
      case "typing":
        if (frame.role !== "customer") break;
        typing.hidden = !frame.active;
        clearTimeout(typing.timer);
        if (frame.active) typing.timer = setTimeout(() => { typing.hidden = true; }, 6000);
        break;
      case "error": showError(frame.message); break;
    }
  }

  const socket = window.agentSocket(root.dataset.ws, {
    indicator: document.getElementById("live"),
    onFrame,
    onOpen: (ws) => { if (lastSeq) ws.send(JSON.stringify({ type: "resume", after_seq: lastSeq })); },
  });

  root.addEventListener("click", (event) => {
    const action = event.target.dataset && event.target.dataset.action;
    if (!action) return;
    if (action === "close" && !confirm("Close this conversation?")) return;
    socket.send({ type: action });
  });

  if (form) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const area = form.querySelector("textarea");
      const text = area.value.trim();
      if (!text) return;
      socket.send({ type: "reply", text, client_id: crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) });
      area.value = "";
    });
    form.querySelector("textarea").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
    });
  }
})();
