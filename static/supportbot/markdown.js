/*! Supportbot's safe Markdown, shared by the chat widget and the agent console.
 * DOM nodes and textContent only, never innerHTML: a reply cannot inject markup or scripts.
 * Links open in a new tab with http(s)/mailto only; images in text become links, never loads.
 * window.SupportbotMarkdown.render(text) -> DocumentFragment. Loaded once per page.
 */
(function () {
  "use strict";
  if (window.SupportbotMarkdown) return;

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
  function safeUrl(href) {
    try {
      var url = new URL(href, location.href);
      return ["http:", "https:", "mailto:"].indexOf(url.protocol) >= 0 ? url.href : null;
    } catch (e) { return null; }
  }
  function link(href, label) {
    var url = safeUrl(href);
    if (!url) return document.createTextNode(label);
    return el("a", { href: url, target: "_blank", rel: "noopener noreferrer nofollow ugc", text: label });
  }
  var INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*|__[^_\n]+__)|(!?\[[^\]\n]*\]\([^)\s]+\))|(\*[^*\s][^*\n]*\*|_[^_\s][^_\n]*_)|(https?:\/\/[^\s<>()]*[^\s<>().,;:!?'"])/g;
  function inline(text, parent) {
    var last = 0, match;
    var pattern = new RegExp(INLINE.source, "g"); // one per call: inline() recurses
    while ((match = pattern.exec(text))) {
      if (match.index > last) parent.append(text.slice(last, match.index));
      var token = match[0];
      if (match[1]) parent.append(el("code", { text: token.slice(1, -1) }));
      else if (match[2]) parent.append(inline(token.slice(2, -2), el("strong")));
      else if (match[3]) {
        var parts = /^(!?)\[([^\]]*)\]\(([^)\s]+)\)$/.exec(token);
        // Images in the model's text are never loaded: they become links.
        parent.append(parts[1] ? link(parts[3], "Image: " + (parts[2] || parts[3])) : link(parts[3], parts[2] || parts[3]));
      } else if (match[4]) parent.append(inline(token.slice(1, -1), el("em")));
      else parent.append(link(token, token));
      last = match.index + token.length;
    }
    if (last < text.length) parent.append(text.slice(last));
    return parent;
  }
  function markdown(source) {
    var root = document.createDocumentFragment();
    var lines = String(source || "").replace(/\r\n?/g, "\n").split("\n");
    var i = 0, paragraph = null, list = null;
    function end() { paragraph = null; list = null; }
    while (i < lines.length) {
      var line = lines[i];
      if (/^```/.test(line)) {
        end();
        var code = [];
        i++;
        while (i < lines.length && !/^```/.test(lines[i])) code.push(lines[i++]);
        root.append(el("pre", null, [el("code", { text: code.join("\n") })]));
        i++;
        continue;
      }
      var bullet = /^\s*(?:[-*+]|(\d+)[.)])\s+(.*)$/.exec(line);
      var heading = /^#{1,6}\s+(.*)$/.exec(line);
      if (!line.trim()) end();
      else if (bullet) {
        var kind = bullet[1] ? "ol" : "ul";
        if (!list || list.tagName.toLowerCase() !== kind) { list = el(kind); root.append(list); }
        paragraph = null;
        list.append(inline(bullet[2], el("li")));
      } else if (heading) {
        end();
        root.append(inline(heading[1], el("p", { class: "heading" })));
      } else if (/^>\s?/.test(line)) {
        end();
        root.append(inline(line.replace(/^>\s?/, ""), el("blockquote")));
      } else {
        list = null;
        if (!paragraph) { paragraph = el("p"); root.append(paragraph); }
        else paragraph.append(el("br"));
        inline(line, paragraph);
      }
      i++;
    }
    return root;
  }

  window.SupportbotMarkdown = Object.freeze({ render: markdown });
})();
