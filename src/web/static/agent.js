// Live status of a caller verification in the agent console: polls every two seconds and
// updates the headline, the detail and the warnings in place. Without scripts, the
// refresh link does the same one click at a time. Nothing is stored in the browser.
(function () {
  "use strict";
  var box = document.getElementById("call");
  if (!box || box.getAttribute("data-pending") !== "true") { return; }
  var url = box.getAttribute("data-status-url");
  var headline = document.getElementById("headline");
  var detail = document.getElementById("detail");
  var warnings = document.getElementById("warnings");
  function show(s) {
    headline.textContent = s.headline;
    headline.className = "headline " + s.tone;
    detail.textContent = s.detail;
    while (warnings.firstChild) { warnings.removeChild(warnings.firstChild); }
    s.warnings.forEach(function (w) {
      var li = document.createElement("li");
      li.textContent = w;
      warnings.appendChild(li);
    });
    if (!s.pending) {
      ["cancel-form", "refresh", "say"].forEach(function (id) {
        var el = document.getElementById(id);
        if (el) { el.parentNode.removeChild(el); }
      });
    }
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        show(s);
        if (s.pending) { window.setTimeout(poll, 2000); }
      })
      .catch(function () { window.setTimeout(poll, 4000); });
  }
  window.setTimeout(poll, 2000);
}());
