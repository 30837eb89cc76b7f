// policydesk pages: small enhancements; every page works without them.
// No inline script anywhere (CSP script-src 'self').
(function () {
  "use strict";
  function init(root) {
    // "Select all" boxes for the queue and batch tables.
    root.querySelectorAll("input.js-all").forEach(function (all) {
      all.hidden = false;
      all.addEventListener("change", function () {
        var form = all.closest("form");
        if (!form) return;
        form.querySelectorAll('input[type=checkbox][name=ids]').forEach(function (box) {
          box.checked = all.checked;
        });
      });
    });
    // Print buttons for decision letters and 公示 lists.
    root.querySelectorAll("button.js-print").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () { window.print(); });
    });
    // Ask before actions that cannot be undone.
    root.querySelectorAll("button.danger").forEach(function (b) {
      b.addEventListener("click", function (ev) {
        var q = document.documentElement.lang === "en" ?
          b.textContent.trim() + "? This cannot be undone." :
          "确定要" + b.textContent.trim() + "吗？此操作不可撤销。";
        if (!window.confirm(q)) ev.preventDefault();
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  // htmx swaps a filtered list in place: enhance the new content too.
  document.addEventListener("htmx:afterSwap", function (ev) { init(ev.target); });
})();
