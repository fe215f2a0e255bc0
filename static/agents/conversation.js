// One conversation, live: history, the bot's stream, the customer's messages and images,
// replying (with drafts, saved replies and typing), and the customer panel beside it.
"use strict";
(function () {
  const root = document.getElementById("conversation");
  const chat = document.getElementById("chat");
  const statusLabel = document.getElementById("status");
  const errorBox = document.getElementById("error");
  const form = document.getElementById("reply");
  const typing = document.getElementById("typing");
  const panel = document.getElementById("customer-panel");
  const summaryBox = document.getElementById("takeover-summary");
  const area = form && form.querySelector("textarea");
  const draftButton = document.getElementById("draft");
  const savedList = document.getElementById("saved-replies");
  const STATUS = { bot: "Bot answering", waiting: "Waiting for an agent", agent: "Agent answering", closed: "Closed" };
  const WHO = { customer: "Customer", assistant: "Bot", agent: "Agent" };
  const ZERO_ID = "00000000-0000-0000-0000-000000000000";
  let lastSeq = 0;
  let takeOver = root.dataset.takeOver === "1";
  const bubbles = new Map(); // seq -> element
  const texts = new Map(); // seq -> the text a bubble shows (deltas add to it)

  function scroll() { chat.scrollTop = chat.scrollHeight; }

  // The shared safe Markdown (static/supportbot/markdown.js); plain text if it is missing.
  function rich(text) {
    return window.SupportbotMarkdown ? window.SupportbotMarkdown.render(text) : document.createTextNode(text);
  }

  function images(attachments) {
    const box = document.createElement("div");
    box.className = "images";
    for (const a of attachments) {
      const url = root.dataset.attachmentUrl.replace(ZERO_ID, a.id);
      const link = document.createElement("a");
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener";
      link.title = "Open the full image";
      const img = document.createElement("img");
      img.src = url;
      img.alt = "Image from the customer";
      img.className = "thumb";
      img.loading = "lazy";
      img.addEventListener("load", scroll, { once: true });
      link.appendChild(img);
      box.appendChild(link);
    }
    return box;
  }

  function render(el, role, text, who, attachments) {
    el.replaceChildren();
    if (who) {
      const label = document.createElement("span");
      label.className = "who";
      label.textContent = who;
      el.appendChild(label);
    }
    const body = document.createElement("div");
    body.className = "body";
    // The customer's words as typed; the bot's and agents' Markdown as the customer sees it.
    body.appendChild(role === "customer" || role === "event" ? document.createTextNode(text) : rich(text));
    el.appendChild(body);
    if (attachments && attachments.length) el.appendChild(images(attachments));
  }

  function bubble(seq, role, text, who, attachments) {
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
    el.dataset.who = who || "";
    texts.set(seq, text);
    render(el, role, text, who, attachments);
    lastSeq = Math.max(lastSeq, seq);
    scroll();
    return el;
  }

  function dropBubble(seq) {
    const el = bubbles.get(seq);
    if (el) el.remove();
    bubbles.delete(seq);
    texts.delete(seq);
    lastSeq = Math.max(lastSeq, seq);
  }

  const pending = new Set();
  function renderSoon(seq) {
    if (pending.has(seq)) return;
    pending.add(seq);
    requestAnimationFrame(() => {
      pending.delete(seq);
      const el = bubbles.get(seq);
      if (el) { render(el, "assistant", texts.get(seq) || "", "Bot"); scroll(); }
    });
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
    const el = bubble(m.seq, m.role, m.text, who, m.attachments);
    el.classList.toggle("streaming", m.state === "streaming");
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  function mine() { return root.dataset.status === "agent" && root.dataset.agent === root.dataset.me; }

  function setStatus(status, agentName) {
    statusLabel.textContent = STATUS[status] + (status === "agent" && agentName ? ` (${agentName})` : "");
    root.dataset.status = status;
    root.dataset.agent = agentName || "";
    for (const button of root.querySelectorAll("button[data-action]")) {
      const action = button.dataset.action;
      button.disabled = status === "closed" || (action === "claim" && mine()) || (action === "release" && status === "bot");
    }
    if (form) {
      area.disabled = status === "closed";
      form.querySelector("button[type=submit]").disabled = status === "closed";
      if (draftButton) draftButton.disabled = status === "closed" || drafting;
    }
    if (takeOver && status !== "closed" && !mine()) socket.send({ type: "claim" });
    takeOver = false;
  }

  // --- The customer panel: refreshed when the bot has looked something up or the status moved.
  let panelTimer = null;
  function panelRefresh() {
    clearTimeout(panelTimer);
    panelTimer = setTimeout(() => {
      fetch(root.dataset.panelUrl, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.text() : null))
        .then((html) => { if (html !== null) panel.innerHTML = html; }); // our own escaped template
    }, 300);
  }

  // --- The copilot's draft: streamed into the reply box, sent only by the agent.
  let drafting = false;
  function draftState(on, note) {
    drafting = on;
    if (!draftButton) return;
    draftButton.disabled = on || root.dataset.status === "closed";
    draftButton.textContent = on ? (note || "Drafting…") : "Draft a reply";
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "message": showMessage(frame.message); break;
      case "assistant.started": bubble(frame.seq, "assistant", "", "Bot").classList.add("streaming"); break;
      case "assistant.delta": {
        if (!bubbles.get(frame.seq)) bubble(frame.seq, "assistant", "", "Bot");
        bubbles.get(frame.seq).classList.add("streaming");
        texts.set(frame.seq, (texts.get(frame.seq) || "") + frame.text);
        renderSoon(frame.seq);
        break;
      }
      case "assistant.done":
        if (!frame.text) { dropBubble(frame.seq); break; }
        bubble(frame.seq, "assistant", frame.text, "Bot").classList.toggle("streaming", false);
        panelRefresh();
        break;
      case "agent.message": bubble(frame.seq, "agent", frame.text, `Agent ${frame.agent_name}`); break;
      case "tool.started": case "tool.finished": {
        const line = document.createElement("div");
        line.className = "tool-line";
        line.textContent = `🔧 ${frame.label}`;
        chat.appendChild(line);
        scroll();
        if (frame.type === "tool.finished") panelRefresh();
        break;
      }
      case "status.changed": setStatus(frame.status, frame.agent_name); showError(""); panelRefresh(); break;
      case "typing":
        if (frame.role !== "customer") break;
        typing.hidden = !frame.active;
        clearTimeout(typing.timer);
        if (frame.active) typing.timer = setTimeout(() => { typing.hidden = true; }, 6000);
        break;
      case "takeover.summary":
        summaryBox.querySelector("span").textContent = frame.summary;
        summaryBox.hidden = !frame.summary;
        break;
      case "draft.tool": draftState(true, frame.label); break;
      case "draft.delta":
        if (!area.dataset.drafting) { area.value = ""; area.dataset.drafting = "1"; }
        area.value += frame.text;
        break;
      case "draft.done":
        delete area.dataset.drafting;
        area.value = frame.text;
        draftState(false);
        area.focus();
        break;
      case "error":
        if (drafting && (frame.code || "").match(/draft|budget/)) { delete area.dataset.drafting; draftState(false); }
        showError(frame.message);
        break;
    }
  }

  const socket = window.agentSocket(root.dataset.ws, {
    indicator: document.getElementById("live"),
    onFrame,
    onOpen: (ws) => { if (lastSeq) ws.send(JSON.stringify({ type: "resume", after_seq: lastSeq })); },
  });
  if (takeOver) history.replaceState(null, "", location.pathname); // a reload does not claim again

  root.addEventListener("click", (event) => {
    const action = event.target.dataset && event.target.dataset.action;
    if (!action) return;
    if (action === "close" && !confirm("Close this conversation?")) return;
    socket.send({ type: action });
  });

  if (!form) return;

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = area.value.trim();
    if (!text) return;
    socket.send({ type: "reply", text, client_id: crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) });
    socket.send({ type: "typing", active: false });
    lastTyping = 0;
    area.value = "";
    savedHide();
  });

  draftButton.addEventListener("click", () => {
    showError("");
    draftState(true);
    socket.send({ type: "draft" });
  });

  // --- Typing: the customer sees "<agent> is typing" (the server drops it unless we own it).
  let lastTyping = 0;
  function typed() {
    if (!mine() || area.value.startsWith("/")) return;
    const now = Date.now();
    if (now - lastTyping > 2000) { lastTyping = now; socket.send({ type: "typing", active: true }); }
  }

  // --- Saved replies: "/" in an empty box searches them; Enter or a click inserts one.
  let saved = [];
  let chosen = 0;
  let searchTimer = null;
  function savedHide() { savedList.hidden = true; saved = []; }
  function savedShow() {
    savedList.replaceChildren();
    saved.forEach((reply, n) => {
      const item = document.createElement("li");
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", String(n === chosen));
      item.className = n === chosen ? "chosen" : "";
      const name = document.createElement("strong");
      name.textContent = `/${reply.shortcut}`;
      const title = document.createElement("span");
      title.textContent = ` ${reply.title}`;
      item.append(name, title);
      item.addEventListener("mousedown", (event) => { event.preventDefault(); savedUse(n); });
      savedList.appendChild(item);
    });
    savedList.hidden = !saved.length;
  }
  function savedUse(n) {
    const reply = saved[n];
    if (!reply) return;
    area.value = reply.text;
    savedHide();
    area.focus();
  }
  function savedSearch() {
    const value = area.value;
    if (!value.startsWith("/") || /\s/.test(value)) return savedHide();
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      const url = `${root.dataset.savedRepliesUrl}?q=${encodeURIComponent(value.slice(1))}`;
      fetch(url, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : { replies: [] }))
        .then((data) => {
          if (area.value !== value) return; // typed on meanwhile
          saved = data.replies || [];
          chosen = 0;
          savedShow();
        });
    }, 120);
  }

  area.addEventListener("input", () => { savedSearch(); typed(); });
  area.addEventListener("blur", () => setTimeout(savedHide, 150));
  area.addEventListener("keydown", (event) => {
    if (!savedList.hidden && saved.length) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        chosen = (chosen + (event.key === "ArrowDown" ? 1 : saved.length - 1)) % saved.length;
        return savedShow();
      }
      if (event.key === "Enter" || event.key === "Tab") { event.preventDefault(); return savedUse(chosen); }
      if (event.key === "Escape") { event.preventDefault(); return savedHide(); }
    }
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
})();
