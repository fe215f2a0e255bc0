/*! The admin transcript: the bot's and agents' messages shown as the customer saw them, through
 * the shared safe Markdown (static/supportbot/markdown.js); the raw text stays if it is missing.
 */
(function () {
  "use strict";
  if (!window.SupportbotMarkdown) return;
  document.querySelectorAll("#transcript .text[data-markdown]").forEach(function (el) {
    el.replaceChildren(window.SupportbotMarkdown.render(el.textContent));
    el.classList.add("rendered");
  });
})();
