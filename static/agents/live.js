// A websocket that reconnects with backoff; shared by the agent pages.
"use strict";
window.agentSocket = function agentSocket(path, { onFrame, onOpen, indicator }) {
  let socket = null;
  let delay = 500;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${path}`);
    socket.onopen = () => {
      delay = 500;
      if (indicator) indicator.classList.add("on");
      if (onOpen) onOpen(socket);
    };
    socket.onmessage = (event) => onFrame(JSON.parse(event.data));
    socket.onclose = (event) => {
      if (indicator) indicator.classList.remove("on");
      if (event.code === 4403 || event.code === 4404) return;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  connect();
  return { send: (frame) => socket && socket.readyState === 1 && socket.send(JSON.stringify(frame)) };
};
