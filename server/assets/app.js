// Xuncha dashboard: small progressive enhancements; every page works without this script.
"use strict";
document.addEventListener("submit", function (ev) {
  var form = ev.target;
  // Confirm irreversible actions (cancel) before they are sent.
  var confirmText = form.getAttribute("data-confirm");
  if (confirmText && !window.confirm(confirmText)) { ev.preventDefault(); return; }
  // One click, one event: stop double submission of POST forms.
  if ((form.method || "").toLowerCase() === "post") {
    var buttons = form.querySelectorAll("button[type=submit]");
    window.setTimeout(function () { buttons.forEach(function (b) { b.disabled = true; }); }, 0);
  }
});
// Buttons that print the page (the CSP allows no inline handlers: script-src 'self').
document.addEventListener("click", function (ev) {
  var target = ev.target;
  if (target && target.closest && target.closest("[data-print]")) { window.print(); }
});
