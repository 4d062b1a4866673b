// Live status of the QR on the hosted login page. The status endpoint is
// bound to this browser's session cookie; nothing here is a secret.
//
// A dead QR (denied, or expired and not yet replaced) is never left on the
// screen: the image, its URL and its code are hidden until a live one
// replaces them, so nobody scans a code that can only fail.
(function () {
  "use strict";
  var box = document.getElementById("qr-login");
  if (!box) { return; }
  var statusURL = box.dataset.statusUrl;
  var newURL = box.dataset.newUrl;
  var csrf = box.dataset.csrf;
  var status = box.dataset.status || "pending";
  var live = document.getElementById("qr-live");
  var img = document.getElementById("qr-image");
  var url = document.getElementById("qr-url");
  var copy = document.getElementById("qr-copy");
  var code = document.getElementById("user-code");
  var line = document.getElementById("qr-status");
  var renew = document.getElementById("qr-renew");
  var match = document.getElementById("match");
  var matchNumber = document.getElementById("match-number");
  var messages = {
    pending: "Waiting for your phone to scan…",
    scanned: "Scanned — confirm on your phone",
    denied: "Denied on the phone. This code no longer works.",
    expired: "This code expired. Getting a new one…",
    dead: "This code expired.",
    renewed: "Expired — here is a new code",
    confirmed: "Confirmed — signing you in…"
  };
  var expiryTimer = 0;
  var generation = 0; // which QR the page shows: answers about an older one are ignored

  // Number matching: the number to tap on the phone, once scanned.
  function showMatch(n) {
    matchNumber.textContent = n ? String(n) : "";
    match.hidden = !n;
  }

  function show(s, text) {
    status = s;
    if (s !== "scanned") { showMatch(0); }
    line.textContent = text || messages[s] || "";
    box.dataset.status = s;
    var dead = s === "denied" || s === "expired" || s === "dead";
    live.hidden = dead;
    renew.hidden = !(s === "denied" || s === "dead");
  }

  // The QR dies at its expiry even if no status answer says so (a lost
  // connection, a sleeping laptop): hide it then.
  function expireAt(seconds) {
    clearTimeout(expiryTimer);
    if (seconds > 0) {
      expiryTimer = setTimeout(function () {
        if (status === "pending" || status === "scanned") { replace(); }
      }, seconds * 1000);
    }
  }

  function fresh() {
    return fetch(newURL, { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } })
      .then(function (r) { if (!r.ok) { throw new Error("new code: " + r.status); } return r.json(); })
      .then(function (j) {
        generation++;
        img.src = j.qr_image;
        url.textContent = j.qr_url;
        code.textContent = j.user_code;
        expireAt(j.expires_in);
      });
  }

  // replace swaps an expired QR for a new one; until it arrives, and if it
  // cannot be had, the old one stays hidden.
  function replace() {
    show("expired");
    return fresh().then(function () {
      show("pending", messages.renewed);
      status = "pending";
      poll();
    }, function () { show("dead"); });
  }

  function poll() {
    var mine = generation;
    fetch(statusURL + "&since=" + encodeURIComponent(status), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("status: " + r.status); } return r.json(); })
      .then(function (j) {
        if (mine !== generation) { return; }
        if (j.status === "confirmed" && j.redirect) {
          show("confirmed");
          window.location.assign(j.redirect);
          return;
        }
        if (j.status === "expired") { replace(); return; }
        show(j.status);
        if (j.status === "scanned") { showMatch(j.match_number); }
        // retry_after: the server answered at once instead of holding the
        // request (it holds as many as it may): ask again later.
        if (j.status !== "denied") { setTimeout(poll, (j.retry_after || 0) * 1000); }
      })
      .catch(function () { if (mine === generation) { setTimeout(poll, 3000); } });
  }

  // Copy the QR's URL, for a second tab or a message to one's phone. The
  // Clipboard API needs a secure context (https or localhost); elsewhere
  // the older execCommand copies the selected text.
  copy.hidden = false;
  copy.addEventListener("click", function () {
    var text = url.textContent;
    var done = function () { copy.textContent = "Copied"; setTimeout(function () { copy.textContent = "Copy link"; }, 2000); };
    var fallback = function () {
      var range = document.createRange();
      range.selectNodeContents(url);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      if (document.execCommand && document.execCommand("copy")) { done(); } else { copy.textContent = "Press Ctrl+C to copy"; }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, fallback);
    } else {
      fallback();
    }
  });

  renew.addEventListener("click", function (e) {
    e.preventDefault();
    fresh().then(function () { show("pending"); poll(); }, function () { show("dead", "No new code right now. Wait a moment and try again."); });
  });
  show(status);
  if (status !== "denied") {
    expireAt(Number(box.dataset.expiresIn));
    poll();
  }
}());
