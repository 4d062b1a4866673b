// Live status of the QR on the hosted login page. The status endpoint is
// bound to this browser's session cookie; nothing here is a secret.
(function () {
  "use strict";
  var box = document.getElementById("qr-login");
  if (!box) { return; }
  var statusURL = box.dataset.statusUrl;
  var newURL = box.dataset.newUrl;
  var csrf = box.dataset.csrf;
  var status = box.dataset.status || "pending";
  var img = document.getElementById("qr-image");
  var code = document.getElementById("user-code");
  var line = document.getElementById("qr-status");
  var renew = document.getElementById("qr-renew");
  var match = document.getElementById("match");
  var matchNumber = document.getElementById("match-number");
  var messages = {
    pending: "Waiting for your phone to scan…",
    scanned: "Scanned — confirm on your phone",
    denied: "Denied on the phone.",
    expired: "Expired — here is a new code",
    confirmed: "Confirmed — signing you in…"
  };

  // Number matching: the number to tap on the phone, once scanned.
  function showMatch(n) {
    matchNumber.textContent = n ? String(n) : "";
    match.hidden = !n;
  }

  function show(s) {
    status = s;
    if (s !== "scanned") { showMatch(0); }
    line.textContent = messages[s] || "";
    box.dataset.status = s;
    renew.hidden = s !== "denied";
  }

  function fresh() {
    return fetch(newURL, { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } })
      .then(function (r) { if (!r.ok) { throw new Error("new code: " + r.status); } return r.json(); })
      .then(function (j) { img.src = j.qr_image; code.textContent = j.user_code; });
  }

  function poll() {
    fetch(statusURL + "&since=" + encodeURIComponent(status), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("status: " + r.status); } return r.json(); })
      .then(function (j) {
        if (j.status === "confirmed" && j.redirect) {
          show("confirmed");
          window.location.assign(j.redirect);
          return;
        }
        if (j.status === "expired") {
          return fresh().then(function () { show("expired"); setTimeout(poll, 0); status = "pending"; });
        }
        show(j.status);
        if (j.status === "scanned") { showMatch(j.match_number); }
        // retry_after: the server answered at once instead of holding the
        // request (it holds as many as it may): ask again later.
        if (j.status !== "denied") { setTimeout(poll, (j.retry_after || 0) * 1000); }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }

  renew.addEventListener("click", function (e) {
    e.preventDefault();
    fresh().then(function () { show("pending"); poll(); });
  });
  show(status);
  if (status !== "denied") { poll(); }
}());
