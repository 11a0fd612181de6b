// Progressive enhancement of the BankID order page: the QR code is refreshed every
// second and the order's status is polled every two seconds. Without scripts the page
// still works through its "open BankID on this device" link and its refresh link.
(function () {
  "use strict";
  var box = document.getElementById("bankid");
  if (!box) { return; }
  var qr = document.getElementById("qr");
  var message = document.getElementById("message");
  var qrUrl = box.getAttribute("data-qr-url");
  var statusUrl = box.getAttribute("data-status-url");
  var tick = 0;
  var qrTimer = window.setInterval(function () {
    tick += 1;
    qr.src = qrUrl + "?n=" + tick;
  }, 1000);
  function poll() {
    fetch(statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.message && message.textContent !== s.message) { message.textContent = s.message; }
        if (s.next) {
          window.clearInterval(qrTimer);
          window.location.assign(s.next);
          return;
        }
        window.setTimeout(poll, 2000);
      })
      .catch(function () { window.setTimeout(poll, 4000); });
  }
  window.setTimeout(poll, 2000);
}());
