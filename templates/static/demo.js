// demo.js: the demo site's QR page. It long-polls the demo's own backend
// (GET <prefix>/qr/status, cookie-bound; the backend holds the provider's
// long-poll) and shows each state as it comes. Without JavaScript the
// page's Continue button does one check per click instead.
(function () {
  'use strict';
  var root = document.getElementById('qr-login');
  if (!root || !window.fetch) {
    return;
  }
  var statusURL = root.getAttribute('data-status-url');
  var doneURL = root.getAttribute('data-done-url');
  var statusEl = document.getElementById('qr-status');
  var image = document.getElementById('qr-image');
  var continueButton = document.getElementById('qr-continue');
  var backoff = 0;

  function show(status, message) {
    statusEl.setAttribute('data-status', status);
    if (message) {
      statusEl.textContent = message;
    }
  }

  function finished(status) {
    // The code can no longer be used: hide it, offer a way back.
    if (image) {
      image.hidden = true;
    }
    if (continueButton) {
      continueButton.textContent = 'Start again';
    }
  }

  function poll() {
    fetch(statusURL, {credentials: 'same-origin', cache: 'no-store', headers: {'Accept': 'application/json'}})
      .then(function (resp) {
        return resp.json().then(function (body) {
          if (!resp.ok) {
            throw body;
          }
          return body;
        });
      })
      .then(function (body) {
        backoff = 0;
        show(body.status, body.message);
        switch (body.status) {
          case 'pending':
          case 'scanned':
            // The backend paces the provider (long-poll, slow_down):
            // asking again at once is right.
            poll();
            return;
          case 'signed_in':
          case 'none':
            window.location.assign(doneURL);
            return;
          default: // denied, expired, failed
            finished(body.status);
        }
      })
      .catch(function (body) {
        // Network trouble or the provider unreachable: back off, up to 30 s.
        if (body && body.message) {
          show('error', body.message);
        }
        backoff = Math.min(backoff ? backoff * 2 : 1000, 30000);
        window.setTimeout(poll, backoff);
      });
  }

  poll();
}());
