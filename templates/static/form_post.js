// OAuth 2.0 Form Post Response Mode: post the answer to the application
// at once. An external script, not an inline handler, so the pages'
// Content-Security-Policy (script-src 'self') allows it.
(function () {
  "use strict";
  var form = document.getElementById("form-post");
  if (form) { form.submit(); }
})();
