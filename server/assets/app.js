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
// A character counter after every textarea with a maxlength (the server's limit, set by the page).
document.querySelectorAll("textarea[maxlength]").forEach(function (area) {
  var counter = document.createElement("small");
  counter.className = "meta char-count";
  var show = function () { counter.textContent = area.value.length + " / " + area.maxLength; };
  area.insertAdjacentElement("afterend", counter);
  area.addEventListener("input", show);
  show();
});
