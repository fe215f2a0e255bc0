/*! Supportbot chat widget. One tag on any page:
 *  <script src="https://support.example.com/static/supportbot/widget.js" data-bot="pk_..." async></script>
 * Optional: data-customer-email, data-customer-id, data-customer-name, data-customer-signature
 * (HMAC-SHA256 of the id or email with the bot's identity secret), data-color, data-title,
 * data-open="true". Protocol: docs/protocol.md. No framework; everything lives in a shadow root.
 * When the host page's identity changes (another user signs in, or the customer logs out and the
 * data-customer-* attributes go), the widget starts a new conversation: nobody sees another's.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.bot || window.__supportbotWidget) return;
  window.__supportbotWidget = true;

  var BOT = script.dataset.bot;
  var SERVER = new URL(script.src, location.href).origin;
  var WS_SERVER = SERVER.replace(/^http/, "ws");
  var STORE_KEY = "supportbot:" + BOT;
  var IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif"];
  // --- The widget's own words, by language: the page's <html lang>, or data-locale on the tag.
  var CATALOGUE = {
    en: {
      cardCancelQuestion: "Cancel order {order}{reason}? It will be refunded in full.",
      cardReturnOne: "Start a return of 1 item from order {order}?", cardReturnMany: "Start a return of {count} items from order {order}?",
      cardCancel: "Cancel the order", cardReturn: "Start the return", cardKeep: "Keep it as is",
      outcome_done: "Done.", outcome_declined: "Cancelled: nothing was changed.", outcome_refused: "Not possible any more: nothing was changed.",
      outcome_failed: "That did not work: nothing was changed. Please try again later.", outcome_expired: "This confirmation expired: nothing was changed.",
      title: "Chat with us", open: "Open chat", close: "Close chat", human: "Talk to a human",
      message: "Message", placeholder: "Write a message…", send: "Send", stop: "Stop", stopGenerating: "Stop generating",
      attach: "Attach an image", removeImage: "Remove image", imageToSend: "Image to send", attachedImage: "Attached image",
      statusBot: "Assistant · replies instantly", statusWaiting: "Waiting for an agent…", statusAgent: "{agent} is here",
      statusClosed: "Conversation closed", anAgent: "An agent", agent: "Agent", assistantTyping: "Assistant is typing",
      agentTyping: "{agent} is typing", awayBack: "Our team is away · back {when}", awayEmail: "Our team is away · we reply by email",
      rateQuestion: "How did we do?", rateLabel: "Rate {n} out of 5", rateThanks: "Thanks for your feedback!",
      newChat: "Start a new conversation", stopped: "Stopped", working: "Working on it…",
      unavailable: "The chat is unavailable right now.", notHere: "This chat is not available on this site.",
      wrong: "Something went wrong.", imageType: "Attach a JPEG, PNG, WebP or GIF image.",
      imageSize: "That image is too large (at most {mb} MB).", uploadFailed: "The image could not be uploaded.",
      imageLink: "Image: {name}", justNow: "just now", sources: "Sources:",
      handoff_requested: "You asked for a human. An agent will join you shortly.",
      agent_joined: "{agent} joined the conversation.", bot_resumed: "The assistant is back.",
      closed: "This conversation is closed.", rated: "Thanks for your rating!",
    },
    de: {
      cardCancelQuestion: "Bestellung {order}{reason} stornieren? Sie wird vollständig erstattet.",
      cardReturnOne: "Rücksendung von 1 Artikel aus Bestellung {order} starten?", cardReturnMany: "Rücksendung von {count} Artikeln aus Bestellung {order} starten?",
      cardCancel: "Bestellung stornieren", cardReturn: "Rücksendung starten", cardKeep: "Nichts ändern",
      outcome_done: "Erledigt.", outcome_declined: "Abgebrochen: nichts wurde geändert.", outcome_refused: "Nicht mehr möglich: nichts wurde geändert.",
      outcome_failed: "Das hat nicht geklappt: nichts wurde geändert. Bitte versuchen Sie es später noch einmal.", outcome_expired: "Diese Bestätigung ist abgelaufen: nichts wurde geändert.",
      title: "Chatten Sie mit uns", open: "Chat öffnen", close: "Chat schließen", human: "Mit einem Menschen sprechen",
      message: "Nachricht", placeholder: "Nachricht schreiben…", send: "Senden", stop: "Stopp", stopGenerating: "Antwort anhalten",
      attach: "Bild anhängen", removeImage: "Bild entfernen", imageToSend: "Zu sendendes Bild", attachedImage: "Angehängtes Bild",
      statusBot: "Assistent · antwortet sofort", statusWaiting: "Warten auf einen Mitarbeiter…", statusAgent: "{agent} ist da",
      statusClosed: "Unterhaltung beendet", anAgent: "Ein Mitarbeiter", agent: "Mitarbeiter", assistantTyping: "Der Assistent schreibt",
      agentTyping: "{agent} schreibt", awayBack: "Unser Team ist nicht da · zurück {when}", awayEmail: "Unser Team ist nicht da · wir antworten per E-Mail",
      rateQuestion: "Wie waren wir?", rateLabel: "Mit {n} von 5 bewerten", rateThanks: "Danke für Ihr Feedback!",
      newChat: "Neue Unterhaltung beginnen", stopped: "Angehalten", working: "Einen Moment…",
      unavailable: "Der Chat ist gerade nicht verfügbar.", notHere: "Dieser Chat ist auf dieser Seite nicht verfügbar.",
      wrong: "Etwas ist schiefgelaufen.", imageType: "Hängen Sie ein JPEG-, PNG-, WebP- oder GIF-Bild an.",
      imageSize: "Das Bild ist zu groß (höchstens {mb} MB).", uploadFailed: "Das Bild konnte nicht hochgeladen werden.",
      imageLink: "Bild: {name}", justNow: "gerade eben", sources: "Quellen:",
      handoff_requested: "Sie haben nach einem Menschen gefragt. Gleich ist jemand für Sie da.",
      agent_joined: "{agent} ist der Unterhaltung beigetreten.", bot_resumed: "Der Assistent ist zurück.",
      closed: "Diese Unterhaltung ist beendet.", rated: "Danke für Ihre Bewertung!",
    },
    fr: {
      cardCancelQuestion: "Annuler la commande {order}{reason} ? Elle sera remboursée en totalité.",
      cardReturnOne: "Retourner 1 article de la commande {order} ?", cardReturnMany: "Retourner {count} articles de la commande {order} ?",
      cardCancel: "Annuler la commande", cardReturn: "Lancer le retour", cardKeep: "Ne rien changer",
      outcome_done: "C'est fait.", outcome_declined: "Annulé : rien n'a été modifié.", outcome_refused: "Plus possible : rien n'a été modifié.",
      outcome_failed: "Cela n'a pas fonctionné : rien n'a été modifié. Réessayez plus tard.", outcome_expired: "Cette confirmation a expiré : rien n'a été modifié.",
      title: "Discutez avec nous", open: "Ouvrir le chat", close: "Fermer le chat", human: "Parler à un humain",
      message: "Message", placeholder: "Écrivez un message…", send: "Envoyer", stop: "Arrêter", stopGenerating: "Arrêter la réponse",
      attach: "Joindre une image", removeImage: "Retirer l'image", imageToSend: "Image à envoyer", attachedImage: "Image jointe",
      statusBot: "Assistant · répond tout de suite", statusWaiting: "En attente d'un conseiller…", statusAgent: "{agent} est là",
      statusClosed: "Conversation terminée", anAgent: "Un conseiller", agent: "Conseiller", assistantTyping: "L'assistant écrit",
      agentTyping: "{agent} écrit", awayBack: "Notre équipe est absente · de retour {when}", awayEmail: "Notre équipe est absente · nous répondrons par e-mail",
      rateQuestion: "Comment était notre aide ?", rateLabel: "Noter {n} sur 5", rateThanks: "Merci pour votre avis !",
      newChat: "Commencer une nouvelle conversation", stopped: "Arrêté", working: "Un instant…",
      unavailable: "Le chat est indisponible pour le moment.", notHere: "Ce chat n'est pas disponible sur ce site.",
      wrong: "Une erreur est survenue.", imageType: "Joignez une image JPEG, PNG, WebP ou GIF.",
      imageSize: "Cette image est trop lourde ({mb} Mo au plus).", uploadFailed: "L'image n'a pas pu être envoyée.",
      imageLink: "Image : {name}", justNow: "à l'instant", sources: "Sources :",
      handoff_requested: "Vous avez demandé un humain. Un conseiller arrive.",
      agent_joined: "{agent} a rejoint la conversation.", bot_resumed: "L'assistant est de retour.",
      closed: "Cette conversation est terminée.", rated: "Merci pour votre note !",
    },
    es: {
      cardCancelQuestion: "¿Cancelar el pedido {order}{reason}? Se reembolsará por completo.",
      cardReturnOne: "¿Iniciar la devolución de 1 artículo del pedido {order}?", cardReturnMany: "¿Iniciar la devolución de {count} artículos del pedido {order}?",
      cardCancel: "Cancelar el pedido", cardReturn: "Iniciar la devolución", cardKeep: "Dejarlo como está",
      outcome_done: "Hecho.", outcome_declined: "Cancelado: no se cambió nada.", outcome_refused: "Ya no es posible: no se cambió nada.",
      outcome_failed: "No funcionó: no se cambió nada. Inténtalo más tarde.", outcome_expired: "Esta confirmación caducó: no se cambió nada.",
      title: "Chatea con nosotros", open: "Abrir el chat", close: "Cerrar el chat", human: "Hablar con una persona",
      message: "Mensaje", placeholder: "Escribe un mensaje…", send: "Enviar", stop: "Detener", stopGenerating: "Detener la respuesta",
      attach: "Adjuntar una imagen", removeImage: "Quitar la imagen", imageToSend: "Imagen para enviar", attachedImage: "Imagen adjunta",
      statusBot: "Asistente · responde al instante", statusWaiting: "Esperando a un agente…", statusAgent: "{agent} está aquí",
      statusClosed: "Conversación cerrada", anAgent: "Un agente", agent: "Agente", assistantTyping: "El asistente está escribiendo",
      agentTyping: "{agent} está escribiendo", awayBack: "Nuestro equipo no está · vuelve {when}", awayEmail: "Nuestro equipo no está · responderemos por correo",
      rateQuestion: "¿Qué tal lo hicimos?", rateLabel: "Valorar con {n} de 5", rateThanks: "¡Gracias por tu opinión!",
      newChat: "Empezar una nueva conversación", stopped: "Detenido", working: "Un momento…",
      unavailable: "El chat no está disponible ahora mismo.", notHere: "Este chat no está disponible en este sitio.",
      wrong: "Algo salió mal.", imageType: "Adjunta una imagen JPEG, PNG, WebP o GIF.",
      imageSize: "La imagen es demasiado grande (como máximo {mb} MB).", uploadFailed: "No se pudo subir la imagen.",
      imageLink: "Imagen: {name}", justNow: "ahora mismo", sources: "Fuentes:",
      handoff_requested: "Pediste hablar con una persona. Un agente se unirá en breve.",
      agent_joined: "{agent} se unió a la conversación.", bot_resumed: "El asistente ha vuelto.",
      closed: "Esta conversación está cerrada.", rated: "¡Gracias por tu valoración!",
    },
  };
  var OUTCOME_KEYS = ["done", "declined", "refused", "failed", "expired"];
  var EVENT_KEYS = ["handoff_requested", "agent_joined", "bot_resumed", "closed", "rated"];
  function localePick(candidates) {
    for (var i = 0; i < candidates.length; i++) {
      var code = String(candidates[i] || "").toLowerCase().split(/[-_]/)[0];
      if (CATALOGUE[code]) return { code: code, tag: String(candidates[i]) };
    }
    return { code: "en", tag: "en" };
  }
  var LOCALE = localePick([script.dataset.locale, document.documentElement.lang]);
  var WORDS = CATALOGUE[LOCALE.code];
  function t(key, vars) {
    var text = WORDS[key] || CATALOGUE.en[key] || key;
    Object.keys(vars || {}).forEach(function (name) { text = text.split("{" + name + "}").join(vars[name]); });
    return text;
  }

  // --- Storage: the resume token survives reloads and navigation.
  function load() {
    try { return JSON.parse(localStorage.getItem(STORE_KEY) || "{}"); } catch (e) { return {}; }
  }
  function save(patch) {
    var value = Object.assign(load(), patch);
    try { localStorage.setItem(STORE_KEY, JSON.stringify(value)); } catch (e) { /* private mode */ }
    return value;
  }
  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // --- DOM nodes from data: textContent only, never innerHTML.
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.append(c); });
    return node;
  }
  // The safe Markdown lives in markdown.js beside this file (the agent console shares it);
  // it is loaded before the widget mounts. Should it fail to load, text stays plain text.
  function markdown(source) {
    if (window.SupportbotMarkdown) return window.SupportbotMarkdown.render(source);
    return document.createTextNode(String(source || ""));
  }
  function markdownLoad(done) {
    if (window.SupportbotMarkdown) return done();
    var called = false;
    function once() { if (!called) { called = true; done(); } }
    var tag = document.createElement("script");
    tag.src = new URL("markdown.js", script.src).href;
    tag.async = true;
    tag.onload = tag.onerror = once;
    setTimeout(once, 4000); // a stalled request must not keep the chat away
    (document.head || document.documentElement).append(tag);
  }

  // --- The shadow root: styles cannot leak in or out.
  var host = el("div", { id: "supportbot-widget" });
  var shadow = host.attachShadow({ mode: "open" });
  var accent = /^#[0-9a-f]{3,8}$/i.test(script.dataset.color || "") ? script.dataset.color : "#4f46e5";
  var style = el("style");
  style.textContent = [
    ":host{all:initial;--accent:" + accent + ";font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2937}",
    "*{box-sizing:border-box}",
    "button{font:inherit;cursor:pointer}",
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:60px;height:60px;border-radius:50%;border:0;background:var(--accent);color:#fff;box-shadow:0 6px 24px rgba(0,0,0,.25);display:grid;place-items:center}",
    ".launcher svg{width:28px;height:28px}",
    ".launcher .badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;border-radius:10px;background:#dc2626;color:#fff;font-size:12px;display:none;place-items:center;padding:0 5px}",
    ".launcher .badge.on{display:grid}",
    ":focus-visible{outline:3px solid #f59e0b;outline-offset:2px}",
    ".panel{position:fixed;right:20px;bottom:92px;z-index:2147483000;width:380px;height:min(600px,calc(100vh - 120px));background:#fff;border-radius:16px;box-shadow:0 12px 48px rgba(0,0,0,.28);display:flex;flex-direction:column;overflow:hidden}",
    ".panel[hidden]{display:none}",
    "header{background:var(--accent);color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}",
    "header .titles{flex:1;min-width:0}",
    "header h2{font-size:16px;margin:0;font-weight:600}",
    "header .status{font-size:12px;opacity:.9}",
    "header button{background:rgba(255,255,255,.18);color:#fff;border:0;border-radius:8px;padding:6px 9px;font-size:13px}",
    "header button:disabled{opacity:.5;cursor:default}",
    "header .close{min-width:44px;min-height:44px;font-size:24px;line-height:1;padding:0}", // a finger's width on a phone
    "header .human{min-height:44px}",
    ".log{flex:1;overflow-y:auto;padding:14px;display:flex;flex-direction:column;gap:8px;background:#f8fafc}",
    ".msg{max-width:85%;padding:8px 12px;border-radius:14px;white-space:normal;overflow-wrap:anywhere}",
    ".msg p{margin:0 0 6px}.msg p:last-child{margin-bottom:0}.msg .heading{font-weight:700}",
    ".msg ul,.msg ol{margin:4px 0;padding-left:20px}",
    ".msg pre{background:#0f172a;color:#e2e8f0;padding:8px;border-radius:8px;overflow-x:auto;font-size:13px}",
    ".msg code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}",
    ".msg blockquote{margin:4px 0;padding-left:8px;border-left:3px solid #cbd5e1;color:#475569}",
    ".msg a{color:inherit;text-decoration:underline}",
    ".customer{align-self:flex-end;background:var(--accent);color:#fff;border-bottom-right-radius:4px}",
    ".customer.pending{opacity:.65}.customer.failed{background:#b91c1c}",
    ".assistant,.agent{align-self:flex-start;background:#fff;border:1px solid #e2e8f0;border-bottom-left-radius:4px}",
    ".agent{border-color:#86efac;background:#f0fdf4}",
    ".who{display:block;font-size:11px;font-weight:600;color:#15803d;margin-bottom:2px}",
    ".note{align-self:center;font-size:12px;color:#64748b;text-align:center}",
    ".action-card{align-self:stretch;border:1px solid #cbd5e1;border-radius:12px;padding:10px;background:#f8fafc;font-size:14px}",
    ".action-card .actions{display:flex;gap:8px;margin-top:8px}",
    ".action-card button{border:1px solid #cbd5e1;border-radius:8px;padding:6px 12px;background:#fff}",
    ".action-card button.confirm{background:var(--sb-accent,#2563eb);color:#fff;border-color:transparent}",
    ".action-card button:disabled{opacity:.5;cursor:default}",
    ".action-card .outcome{display:block;margin-top:6px;font-size:12px;color:#334155}",
    ".stopped{display:block;font-size:11px;color:#64748b;margin-top:4px}",
    ".sources{display:block;font-size:12px;color:#475569;margin-top:6px}.sources a{margin-right:8px}",
    ".msg img{max-width:100%;max-height:180px;width:auto;height:auto;border-radius:8px;display:block;margin-top:4px}",
    ".msg[data-time]::after{content:attr(data-time);display:block;font-size:11px;opacity:.7;margin-top:3px}",
    ".customer[data-time]::after{text-align:right}",
    ".typing{align-self:flex-start;padding:10px 14px}.typing span{display:inline-block;width:7px;height:7px;margin:0 2px;border-radius:50%;background:#94a3b8;animation:blink 1.2s infinite}",
    ".typing span:nth-child(2){animation-delay:.2s}.typing span:nth-child(3){animation-delay:.4s}",
    ".typing-label{margin-left:6px;font-size:12px;font-style:normal;color:#64748b}",
    "@keyframes blink{0%,80%,100%{opacity:.25}40%{opacity:1}}",
    "@media (prefers-reduced-motion:reduce){.typing span{animation:none}}",
    ".toolstatus{font-size:12px;color:#475569;padding:4px 14px;background:#f1f5f9;border-top:1px solid #e2e8f0}",
    ".toolstatus:empty{display:none}",
    ".rating{padding:8px 14px;border-top:1px solid #e2e8f0;text-align:center;flex:none}",
    ".rating p{margin:0 0 6px;font-size:14px}",
    ".rating button{border:1px solid #cbd5e1;background:#fff;border-radius:8px;width:40px;height:36px;margin:0 2px;font-size:18px}",
    ".rating button:hover,.rating button:focus-visible{background:#fef3c7}",
    // .rating button would win over a plain .newchat: white on white.
    ".rating .newchat{margin-top:8px;border:0;background:var(--accent);color:#fff;border-radius:8px;padding:7px 12px;width:auto;height:auto;min-height:36px;font-size:14px}",
    ".rating .newchat:hover,.rating .newchat:focus-visible{background:var(--accent);filter:brightness(1.1)}",
    ".chips{display:flex;gap:6px;padding:0 10px;flex-wrap:wrap}.chips:empty{display:none}",
    ".chip{position:relative;margin-top:8px}.chip img{width:48px;height:48px;object-fit:cover;border-radius:6px;display:block}",
    ".chip button{position:absolute;top:-6px;right:-6px;width:20px;height:20px;border-radius:50%;border:0;background:#334155;color:#fff;font-size:12px;line-height:20px;padding:0}",
    "form{display:flex;align-items:flex-end;gap:6px;padding:10px;border-top:1px solid #e2e8f0;background:#fff}",
    // Under 16 px, iOS zooms the page in when the textarea takes focus.
    "textarea{flex:1;resize:none;border:1px solid #cbd5e1;border-radius:10px;padding:8px 10px;font:inherit;font-size:16px;max-height:120px;min-height:40px}",
    "form button{border:0;border-radius:10px;height:40px;min-width:40px;padding:0 10px}",
    ".send{background:var(--accent);color:#fff}.stop{background:#334155;color:#fff}.attach{background:#f1f5f9;color:#334155}",
    "form button:disabled{opacity:.5;cursor:default}",
    ".error{font-size:12px;color:#b91c1c;padding:0 14px 6px}.error:empty{display:none}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}",
    "@media (max-width:480px){.panel{inset:0;width:100%;height:100%;border-radius:0;right:0;bottom:0}.launcher.open{display:none}}",
  ].join("\n");

  var ICON_CHAT = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true"><path d="M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z"/></svg>';
  var ICON_CLIP = '<svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true"><path d="M21 11.5l-8.6 8.6a5 5 0 0 1-7.1-7.1l8.6-8.6a3.3 3.3 0 0 1 4.7 4.7l-8.6 8.6a1.7 1.7 0 0 1-2.4-2.4l7.9-7.9"/></svg>';
  var ICON_CLOSE = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.5" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18"/></svg>';

  var launcher = el("button", { class: "launcher", type: "button", "aria-label": t("open"), "aria-expanded": "false", "aria-controls": "sb-panel" });
  launcher.innerHTML = ICON_CHAT; // a constant, not data
  var badge = el("span", { class: "badge", "aria-hidden": "true" });
  launcher.append(badge);
  var title = el("h2", { id: "sb-title", text: script.dataset.title || t("title") });
  var statusLine = el("div", { class: "status", text: "" });
  var humanButton = el("button", { type: "button", class: "human", text: t("human"), disabled: "" }); // until ready
  var closeButton = el("button", { type: "button", class: "close", "aria-label": t("close"), text: "×" });
  var log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions", tabindex: "0" });
  var toolStatus = el("div", { class: "toolstatus", role: "status" });
  var rating = el("div", { class: "rating", hidden: "" });
  var errorLine = el("div", { class: "error", role: "alert" });
  var chips = el("div", { class: "chips" });
  var fileInput = el("input", { type: "file", accept: IMAGE_TYPES.join(","), class: "sr", tabindex: "-1", "aria-hidden": "true" });
  var attachButton = el("button", { type: "button", class: "attach", "aria-label": t("attach") });
  attachButton.innerHTML = ICON_CLIP; // a constant, not data
  var textarea = el("textarea", { rows: "1", placeholder: t("placeholder"), "aria-label": t("message"), maxlength: "4000" });
  var sendButton = el("button", { type: "submit", class: "send", "aria-label": t("send"), text: t("send") });
  var stopButton = el("button", { type: "button", class: "stop", "aria-label": t("stopGenerating"), text: t("stop"), hidden: "" });
  var form = el("form", null, [fileInput, attachButton, textarea, stopButton, sendButton]);
  var panel = el("section", { class: "panel", id: "sb-panel", role: "dialog", "aria-labelledby": "sb-title", hidden: "" }, [
    el("header", null, [el("div", { class: "titles" }, [title, statusLine]), humanButton, closeButton]),
    log, toolStatus, rating, errorLine, chips, form,
  ]);
  shadow.append(style, launcher, panel);

  // --- State.
  var session = null;          // {conversation_id, token, visitor_id, limits, ...}
  var socket = null, ready = false, retries = 0, retryTimer = null, starting = null;
  var lastSeq = 0;             // highest seq of a complete message seen
  var bubbles = {};            // seq -> {node, text, role}
  var outbox = [];             // messages sent but not yet accepted: {client_id, text, attachments, node}
  var attachments = [];        // uploaded, not yet sent: {id, url}
  var streamingSeq = null, status = "bot", unread = 0, typingNode = null, lastTyping = 0;
  var maxImageBytes = 5 * 1024 * 1024;

  function setStatus(value, agentName) {
    status = value;
    var labels = { bot: t("statusBot"), waiting: t("statusWaiting"), agent: t("statusAgent", { agent: agentName || t("anAgent") }), closed: t("statusClosed") };
    statusLine.textContent = (value === "waiting" && agentsAwayText()) || labels[value] || "";
    humanButton.disabled = value !== "bot";
    var closed = value === "closed";
    textarea.disabled = sendButton.disabled = attachButton.disabled = closed;
    if (closed) { showTyping(false); showRating(); } else rating.hidden = true;
    keepPinned();
  }
  // --- Keeping the latest message in view: the log stays pinned to its end while the customer is
  // there, also when an image loads late or the rating panel takes room from the log.
  var pinned = true;
  function scrollDown() { log.scrollTop = log.scrollHeight; pinned = true; }
  function keepPinned() { if (pinned) log.scrollTop = log.scrollHeight; }
  log.addEventListener("scroll", function () { pinned = log.scrollHeight - log.scrollTop - log.clientHeight < 48; });
  if (window.ResizeObserver) new ResizeObserver(keepPinned).observe(log);

  // --- Times on messages: relative ("3 minutes ago"), the exact time on hover.
  var relativeFormat = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(LOCALE.tag, { numeric: "auto" }) : null;
  var exactFormat = new Intl.DateTimeFormat(LOCALE.tag, { dateStyle: "medium", timeStyle: "short" });
  var dayFormat = new Intl.DateTimeFormat(LOCALE.tag, { month: "short", day: "numeric" });
  var weekdayFormat = new Intl.DateTimeFormat(LOCALE.tag, { weekday: "short", hour: "numeric", minute: "2-digit" });
  function timeRelative(date) {
    var seconds = (Date.now() - date.getTime()) / 1000;
    if (seconds < 45 || !relativeFormat) return seconds < 45 ? t("justNow") : exactFormat.format(date);
    if (seconds < 3600) return relativeFormat.format(-Math.round(seconds / 60), "minute");
    if (seconds < 86400) return relativeFormat.format(-Math.round(seconds / 3600), "hour");
    if (seconds < 7 * 86400) return relativeFormat.format(-Math.round(seconds / 86400), "day");
    return dayFormat.format(date);
  }
  // Attributes, not a child: the bubble's text stays the message (copying it, or a test reading
  // it); CSS shows data-time under the text.
  function timeStamp(node, when) {
    var date = when ? new Date(when) : new Date();
    if (isNaN(date.getTime())) date = new Date();
    node.dataset.at = date.toISOString();
    node.dataset.time = timeRelative(date);
    node.title = exactFormat.format(date);
  }
  function timesRefresh() {
    Array.prototype.forEach.call(log.querySelectorAll(".msg[data-at]"), function (node) {
      node.dataset.time = timeRelative(new Date(node.dataset.at));
    });
  }
  setInterval(timesRefresh, 30000);

  // --- When agents are away (opening hours): when they are back, on the status line.
  function agentsAwayText() {
    var agents = session && session.agents;
    if (!agents || agents.available) return "";
    return agents.back_at ? t("awayBack", { when: weekdayFormat.format(new Date(agents.back_at)) }) : t("awayEmail");
  }

  function note(text) { log.append(el("div", { class: "note", text: text })); scrollDown(); }
  function flashError(text) {
    errorLine.textContent = text;
    clearTimeout(flashError.timer);
    flashError.timer = setTimeout(function () { errorLine.textContent = ""; }, 6000);
  }
  function showTyping(on, label) {
    if (on && !typingNode) {
      typingNode = el("div", { class: "msg assistant typing", "aria-label": label || t("assistantTyping") }, [el("span"), el("span"), el("span")]);
      if (label) typingNode.append(el("em", { class: "typing-label", text: label })); // "Dana is typing"
      log.append(typingNode);
      scrollDown();
    } else if (!on && typingNode) { typingNode.remove(); typingNode = null; }
  }
  function setStreaming(seq) {
    streamingSeq = seq;
    stopButton.hidden = seq === null;
    sendButton.hidden = seq !== null;
  }
  // Messages the customer has seen (the panel was open) stay seen after a reload: the history
  // replay brings them again, and they are not unread.
  function bumpUnread(seq) {
    var seen = load().seen_seq || 0;
    if (!panel.hidden) { if (seq > seen) save({ seen_seq: seq }); return; }
    if (seq <= seen) return;
    unread += 1;
    badge.textContent = String(unread);
    badge.classList.add("on");
  }

  function renderBody(bubble) {
    var node = bubble.node;
    var keep = node.querySelector(".who");
    var images = node.querySelector(".images");
    node.textContent = "";
    if (keep) node.append(keep);
    if (bubble.role === "customer") node.append(document.createTextNode(bubble.text));
    else node.append(markdown(bubble.text));
    if (images) node.append(images);
    if (bubble.role === "assistant") { var cited = sourcesFor(bubble.sources); if (cited) node.append(cited); }
    if (bubble.state === "interrupted") node.append(el("span", { class: "stopped", text: t("stopped") }));
  }
  // The help-center articles a reply cites, as links (the product's own pages are relative).
  function sourcesFor(list) {
    var articles = (list || []).filter(function (s) { return s && s.type === "article" && s.url; });
    if (!articles.length) return null;
    var box = el("span", { class: "sources", text: t("sources") + " " });
    articles.forEach(function (s) {
      var label = s.title + (s.section ? " › " + s.section : "");
      var url;
      try { url = new URL(s.url, SERVER + "/"); } catch (e) { url = null; }
      if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) {
        box.append(el("span", { text: label }));
        return;
      }
      box.append(el("a", { href: url.href, target: "_blank", rel: "noopener noreferrer nofollow", text: label }));
    });
    return box;
  }
  function imagesFor(list) {
    var box = el("div", { class: "images" });
    (list || []).forEach(function (a) {
      var img = el("img", { alt: t("attachedImage") });
      // The size is known before the bytes: reserve the room, then stay at the end once loaded.
      if (a.width && a.height) { img.width = a.width; img.height = a.height; }
      img.addEventListener("load", keepPinned);
      box.append(img);
      fetch(SERVER + "/widget/" + BOT + "/attachments/" + a.id, {
        headers: { "X-Conversation": session.conversation_id, "X-Resume-Token": session.token },
      }).then(function (r) { return r.ok ? r.blob() : null; })
        .then(function (blob) { if (blob) img.src = URL.createObjectURL(blob); });
    });
    return box;
  }
  function bubbleFor(message) {
    var bubble = bubbles[message.seq];
    if (!bubble) {
      var node = el("div", { class: "msg " + message.role });
      if (message.role === "agent") node.append(el("span", { class: "who", text: message.agent_name || t("agent") }));
      bubble = bubbles[message.seq] = { node: node, text: "", role: message.role, state: message.state };
      timeStamp(node, message.created_at);
      if (typingNode && typingNode.parentNode === log) log.insertBefore(node, typingNode);
      else log.append(node);
    }
    return bubble;
  }

  // --- Confirm cards: the bot proposes an order action, only this click carries it out.
  var cards = {};
  function cardQuestion(f) {
    if (f.action === "cancel_order") return t("cardCancelQuestion", { order: f.order_number, reason: f.details && f.details.reason ? " (" + f.details.reason + ")" : "" });
    var count = (f.details && f.details.item_ids || []).length;
    return t(count === 1 ? "cardReturnOne" : "cardReturnMany", { order: f.order_number, count: count });
  }
  function cardShow(f) {
    if (cards[f.action_id]) return;
    var confirm = el("button", { type: "button", class: "confirm", text: t(f.action === "cancel_order" ? "cardCancel" : "cardReturn") });
    var decline = el("button", { type: "button", class: "decline", text: t("cardKeep") });
    var buttons = el("div", { class: "actions" }, [confirm, decline]);
    var node = el("div", { class: "action-card", role: "group", "data-action-id": f.action_id }, [el("span", { text: cardQuestion(f) }), buttons]);
    cards[f.action_id] = { node: node, buttons: buttons };
    function decide(decision) {
      confirm.disabled = decline.disabled = true;
      send({ type: "action.decide", action_id: f.action_id, decision: decision });
    }
    confirm.addEventListener("click", function () { decide("confirm"); });
    decline.addEventListener("click", function () { decide("decline"); });
    if (typingNode && typingNode.parentNode === log) log.insertBefore(node, typingNode);
    else log.append(node);
    scrollDown();
  }
  function cardOutcome(f) {
    var text = OUTCOME_KEYS.indexOf(f.status) >= 0 ? t("outcome_" + f.status) : f.status;
    var card = cards[f.action_id];
    if (!card) { note(cardQuestion(f).replace(/^¿/, "").replace(/\s*\?.*$/, "") + ": " + text); return; }
    if (card.buttons) { card.buttons.remove(); card.buttons = null; }
    card.node.append(el("span", { class: "outcome", text: text }));
  }

  // --- Frames from the server.
  function onMessage(message) {
    // Tool results, and the assistant turns that only called tools, have nothing to show.
    if (message.role === "tool" || (message.role === "assistant" && !message.text && message.state !== "streaming")) {
      lastSeq = Math.max(lastSeq, message.seq);
      return;
    }
    if (message.role === "event") {
      if (bubbles[message.seq]) return;
      bubbles[message.seq] = { node: null };
      if (message.event === "order_action" && message.data) { cardOutcome(message.data); lastSeq = Math.max(lastSeq, message.seq); return; }
      if (EVENT_KEYS.indexOf(message.event) >= 0) note(t(message.event, { agent: (message.data && message.data.agent) || t("anAgent") }));
    } else if (message.role === "customer") {
      if (bubbles[message.seq]) return;
      var mine = findPendingNode(message.client_id);
      if (mine) {
        mine.classList.remove("pending", "failed");
        if (message.created_at) timeStamp(mine, message.created_at);
        bubbles[message.seq] = { node: mine, text: message.text, role: "customer" };
        outbox = outbox.filter(function (m) { return m.client_id !== message.client_id; });
      } else {
        var bubble = bubbleFor(message);
        bubble.text = message.text;
        if (message.attachments && message.attachments.length) bubble.node.append(imagesFor(message.attachments));
        renderBody(bubble);
      }
    } else {
      var b = bubbleFor(message);
      if (message.created_at) timeStamp(b.node, message.created_at);
      if (message.state === "streaming" && b.text.length > message.text.length) return;
      b.text = message.text;
      b.state = message.state;
      b.sources = message.sources;
      renderBody(b);
      if (message.state === "streaming") { setStreaming(message.seq); showTyping(false); }
      else if (message.role === "agent" && !b.counted) {
        // An agent's message arrives twice ("agent.message", then "message"): count it once.
        b.counted = true;
        bumpUnread(message.seq);
      }
    }
    if (message.state !== "streaming") lastSeq = Math.max(lastSeq, message.seq);
    scrollDown();
  }
  function findPendingNode(clientId) {
    return log.querySelector('[data-client-id="' + (window.CSS && CSS.escape ? CSS.escape(clientId || "") : clientId) + '"]');
  }

  var renderQueued = {};
  function queueRender(seq) {
    if (renderQueued[seq]) return;
    renderQueued[seq] = true;
    requestAnimationFrame(function () { delete renderQueued[seq]; if (bubbles[seq]) { renderBody(bubbles[seq]); scrollDown(); } });
  }

  var handlers = {
    ready: function (f) {
      ready = true;
      retries = 0;
      title.textContent = script.dataset.title || f.bot_name || title.textContent;
      setStatus(f.status);
      if (f.csat_rating) rating.dataset.done = "1";
      if (!log.querySelector(".greeting") && f.greeting) {
        var g = el("div", { class: "msg assistant greeting" });
        g.append(markdown(f.greeting));
        log.prepend(g);
      }
      outbox.forEach(function (m) { transmit(m); });
    },
    message: function (f) { onMessage(f.message); },
    "message.accepted": function (f) {
      // Stored: it is safe now, and never sent again.
      var pending = outbox.filter(function (m) { return m.client_id === f.client_id; })[0];
      outbox = outbox.filter(function (m) { return m !== pending; });
      if (pending && !bubbles[f.seq]) {
        pending.node.classList.remove("pending");
        bubbles[f.seq] = { node: pending.node, text: pending.text, role: "customer" };
      }
      if (status === "bot" && !f.duplicate) showTyping(true);
    },
    "assistant.started": function (f) {
      var b = bubbleFor({ seq: f.seq, role: "assistant", state: "streaming" });
      b.state = "streaming";
      setStreaming(f.seq);
    },
    "assistant.delta": function (f) {
      showTyping(false);
      var b = bubbleFor({ seq: f.seq, role: "assistant", state: "streaming" });
      var have = b.text.length;
      var offset = typeof f.offset === "number" ? f.offset : have;
      if (offset + f.text.length <= have) return; // already shown (replayed snapshot)
      b.text += offset <= have ? f.text.slice(have - offset) : f.text;
      if (streamingSeq !== f.seq) setStreaming(f.seq);
      toolStatus.textContent = "";
      queueRender(f.seq);
    },
    "tool.started": function (f) { toolStatus.textContent = f.label || t("working"); },
    "tool.finished": function (f) { toolStatus.textContent = f.label || ""; },
    "action.proposed": function (f) { cardShow(f); },
    "action.decided": function (f) { cardOutcome(f); },
    "assistant.done": function (f) {
      showTyping(false);
      toolStatus.textContent = "";
      setStreaming(null);
      if (!f.text) {
        // A turn that only called tools: the next turn carries the answer.
        if (bubbles[f.seq] && bubbles[f.seq].node) bubbles[f.seq].node.remove();
        delete bubbles[f.seq];
        lastSeq = Math.max(lastSeq, f.seq);
        return;
      }
      var b = bubbleFor({ seq: f.seq, role: "assistant", state: f.state });
      b.text = f.text;
      b.state = f.state;
      b.sources = f.sources;
      renderBody(b);
      lastSeq = Math.max(lastSeq, f.seq);
      bumpUnread(f.seq);
      scrollDown();
    },
    "agent.message": function (f) {
      showTyping(false); // the message ends "<agent> is typing"
      onMessage({ seq: f.seq, role: "agent", text: f.text, agent_name: f.agent_name, state: "complete" });
    },
    "status.changed": function (f) {
      if (f.status !== "bot") { showTyping(false); toolStatus.textContent = ""; }
      setStatus(f.status, f.agent_name);
    },
    typing: function (f) {
      if (f.role !== "agent") return;
      showTyping(f.active, t("agentTyping", { agent: f.agent_name || t("agent") }));
      clearTimeout(handlers.typing.timer);
      if (f.active) handlers.typing.timer = setTimeout(function () { showTyping(false); }, 6000);
    },
    error: function (f) {
      if (f.client_id) {
        var pending = outbox.filter(function (m) { return m.client_id === f.client_id; })[0];
        if (f.code === "rate_limited" && pending) {
          setTimeout(function () { transmit(pending); }, 2000);
          return;
        }
        if (pending) {
          pending.node.classList.add("failed");
          outbox = outbox.filter(function (m) { return m !== pending; });
        }
        showTyping(false);
      }
      flashError(f.message || t("wrong"));
    },
    pong: function () {},
  };

  // --- Connection: resume token in the first frame, backoff on drops.
  function api(path, body) {
    return fetch(SERVER + "/widget/" + BOT + path, {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify(body),
    }).then(function (r) {
      return r.json().then(function (data) { if (!r.ok) throw data.error || data; return data; });
    });
  }
  function identity() {
    var d = script.dataset;
    if (!d.customerEmail && !d.customerId && !d.customerName) return null;
    return { email: d.customerEmail || "", external_id: d.customerId || "", name: d.customerName || "", signature: d.customerSignature || "" };
  }
  // Who the host page says is here; a conversation belongs to the identity it started with.
  function identityKey() {
    var d = script.dataset;
    return [d.customerId || "", d.customerEmail || "", d.customerSignature || ""].join("\n");
  }
  function start(fresh) {
    if (starting) return starting;
    var stored = load();
    var who = identityKey();
    var body = { visitor_id: stored.visitor_id || save({ visitor_id: randomId().replace(/-/g, "") }).visitor_id, identity: identity() };
    // Another identity's conversation is never offered for resuming (the server refuses it too).
    if ((stored.identity || "") !== who) fresh = true;
    if (stored.conversation_id && stored.token && !fresh) { body.conversation_id = stored.conversation_id; body.token = stored.token; }
    if (fresh) body.new = true;
    starting = api("/session", body).then(function (data) {
      // Clear only what another conversation put on screen: a message typed while the
      // session was starting waits in the outbox and must survive.
      if (session && session.conversation_id !== data.conversation_id) reset();
      session = data;
      maxImageBytes = (data.limits && data.limits.max_image_bytes) || maxImageBytes;
      if (data.limits) textarea.maxLength = data.limits.max_message_chars;
      save({ conversation_id: data.conversation_id, token: data.token, visitor_id: data.visitor_id, identity: who });
      // For the store's developers: a signature that was sent but not accepted, and why.
      var signature = data.identity && data.identity.signature;
      if (signature && signature !== "valid" && signature !== "missing" && window.console) console.warn("Supportbot: data-customer-signature was not accepted (" + signature + "); the customer is unverified. See docs/api.md, Signed identities.");
      connect();
    }).catch(function (error) {
      flashError((error && error.message) || t("unavailable"));
      if (!(error && error.code)) scheduleReconnect(function () { starting = null; start(fresh); });
    }).then(function () { starting = null; });
    return starting;
  }
  function reset() {
    log.textContent = "";
    bubbles = {};
    lastSeq = 0;
    save({ seen_seq: 0 });
    outbox = [];
    typingNode = null;
    setStreaming(null);
    delete rating.dataset.done;
  }
  function connect() {
    if (!session || (socket && socket.readyState <= 1)) return;
    clearTimeout(retryTimer);
    ready = false;
    var ws = (socket = new WebSocket(WS_SERVER + session.websocket_path));
    ws.onopen = function () { ws.send(JSON.stringify({ type: "auth", token: session.token, last_seq: lastSeq })); };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      var handler = handlers[frame.type];
      if (handler) handler(frame);
    };
    ws.onclose = function (event) {
      if (socket !== ws) return;
      socket = null;
      ready = false;
      if (event.code === 4401) { save({ conversation_id: null, token: null }); session = null; reset(); start(false); return; }
      if (event.code === 4403) { flashError(t("notHere")); return; }
      scheduleReconnect(connect);
    };
  }
  function scheduleReconnect(fn) {
    clearTimeout(retryTimer);
    var delay = Math.min(30000, 500 * Math.pow(2, retries++)) * (0.5 + Math.random() / 2);
    retryTimer = setTimeout(fn, delay);
  }
  window.addEventListener("online", function () { retries = 0; if (session) connect(); });
  document.addEventListener("visibilitychange", function () { if (!document.hidden && session && !socket) { retries = 0; connect(); } });

  function transmit(message) {
    if (socket && ready) socket.send(JSON.stringify({ type: "message", client_id: message.client_id, text: message.text, attachments: message.attachments }));
  }
  function send(frame) { if (socket && ready) socket.send(JSON.stringify(frame)); }

  // --- The customer's actions.
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = textarea.value.trim();
    if ((!text && !attachments.length) || status === "closed") return;
    var message = { client_id: randomId(), text: text, attachments: attachments.map(function (a) { return a.id; }) };
    message.node = el("div", { class: "msg customer pending", "data-client-id": message.client_id, text: text });
    if (attachments.length) {
      var box = el("div", { class: "images" });
      attachments.forEach(function (a) { box.append(el("img", { src: a.url, alt: t("attachedImage") })); });
      message.node.append(box);
    }
    timeStamp(message.node);
    if (typingNode) log.insertBefore(message.node, typingNode); else log.append(message.node);
    scrollDown();
    outbox.push(message);
    textarea.value = "";
    autoGrow();
    attachments = [];
    chips.textContent = "";
    transmit(message);
    if (!socket) connect();
  });
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit"));
    }
  });
  function autoGrow() { textarea.style.height = "auto"; textarea.style.height = Math.min(120, textarea.scrollHeight) + "px"; }
  textarea.addEventListener("input", function () {
    autoGrow();
    var now = Date.now();
    if (now - lastTyping > 2000) { lastTyping = now; send({ type: "typing", active: true }); }
  });
  stopButton.addEventListener("click", function () { send({ type: "stop" }); });
  humanButton.addEventListener("click", function () { send({ type: "handoff" }); });
  attachButton.addEventListener("click", function () { fileInput.click(); });
  fileInput.addEventListener("change", function () {
    var file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    // Picked before the session is ready: upload once it is, rather than dropping the file.
    if (!session) { start(false).then(function () { if (session) upload(file); }); return; }
    upload(file);
  });
  function upload(file) {
    if (IMAGE_TYPES.indexOf(file.type) < 0) return flashError(t("imageType"));
    if (file.size > maxImageBytes) return flashError(t("imageSize", { mb: Math.round(maxImageBytes / 1048576) }));
    var data = new FormData();
    data.append("file", file);
    fetch(SERVER + "/widget/" + BOT + "/attachments", {
      method: "POST",
      headers: { "X-Conversation": session.conversation_id, "X-Resume-Token": session.token },
      body: data,
    }).then(function (r) { return r.json().then(function (d) { if (!r.ok) throw d.error || d; return d; }); })
      .then(function (uploaded) {
        var entry = { id: uploaded.id, url: URL.createObjectURL(file) };
        attachments.push(entry);
        var remove = el("button", { type: "button", "aria-label": t("removeImage"), text: "×" });
        var chip = el("div", { class: "chip" }, [el("img", { src: entry.url, alt: t("imageToSend") }), remove]);
        remove.addEventListener("click", function () { attachments = attachments.filter(function (a) { return a !== entry; }); chip.remove(); });
        chips.append(chip);
      })
      .catch(function (error) { flashError((error && error.message) || t("uploadFailed")); });
  }
  function showRating() {
    rating.hidden = false;
    rating.textContent = "";
    if (rating.dataset.done) rating.append(el("p", { text: t("rateThanks") }));
    else {
      rating.append(el("p", { text: t("rateQuestion") }));
      [1, 2, 3, 4, 5].forEach(function (n) {
        var star = el("button", { type: "button", "aria-label": t("rateLabel", { n: n }), text: n + "★" });
        star.addEventListener("click", function () {
          send({ type: "rate", rating: n });
          rating.dataset.done = "1";
          showRating();
        });
        rating.append(star);
      });
    }
    var again = el("button", { type: "button", class: "newchat", text: t("newChat") });
    again.addEventListener("click", function () {
      if (socket) { var old = socket; socket = null; old.close(); }
      start(true);
    });
    rating.append(el("div", null, [again]));
    keepPinned();
  }

  // --- Opening and closing.
  function open(focus) {
    panel.hidden = false;
    launcher.classList.add("open");
    launcher.setAttribute("aria-expanded", "true");
    launcher.setAttribute("aria-label", t("close"));
    launcher.innerHTML = ICON_CLOSE;
    launcher.append(badge);
    unread = 0;
    badge.classList.remove("on");
    if (lastSeq > (load().seen_seq || 0)) save({ seen_seq: lastSeq });
    save({ open: true });
    if (!session) start(false); else if (!socket) connect();
    if (focus !== false) textarea.focus();
    scrollDown();
  }
  function close() {
    panel.hidden = true;
    launcher.classList.remove("open");
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-label", t("open"));
    launcher.innerHTML = ICON_CHAT;
    launcher.append(badge);
    save({ open: false });
    launcher.focus();
  }
  launcher.addEventListener("click", function () { panel.hidden ? open() : close(); });
  closeButton.addEventListener("click", close);
  panel.addEventListener("keydown", function (event) { if (event.key === "Escape") close(); });

  function mount() {
    document.body.append(host);
    var stored = load();
    if (stored.open || script.dataset.open === "true") open(false);
    else if (stored.conversation_id) start(false); // reconnect quietly: unread replies show on the badge
  }
  markdownLoad(function () {
    if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
  });

  // A single-page host signs the customer in or out by changing the tag's data-customer-*
  // attributes: drop the old conversation from the screen and storage, and start afresh.
  var shownIdentity = identityKey();
  function identityChanged() {
    var who = identityKey();
    if (who === shownIdentity) return;
    shownIdentity = who;
    save({ conversation_id: null, token: null, identity: who });
    if (socket) { var old = socket; socket = null; ready = false; old.close(); }
    session = null;
    reset();
    attachments = [];
    chips.textContent = "";
    if (!panel.hidden) start(true);
  }
  if (window.MutationObserver) {
    new MutationObserver(identityChanged).observe(script, { attributes: true, attributeFilter: ["data-customer-id", "data-customer-email", "data-customer-signature", "data-customer-name"] });
  }
  // Another tab of the host signed someone else in or out.
  window.addEventListener("storage", function (event) {
    if (event.key !== STORE_KEY) return;
    var stored = load();
    if (session && stored.conversation_id && stored.conversation_id !== session.conversation_id && (stored.identity || "") !== shownIdentity) {
      if (socket) { var old = socket; socket = null; ready = false; old.close(); }
      session = null;
      reset();
    }
  });
  window.Supportbot = { open: open, close: close };
})();
