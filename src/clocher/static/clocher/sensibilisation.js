// Exercise landing page: tells the server that a person's browser shows it (a click).
// A link scanner that only fetches the page runs no script and counts for nothing.
(function () {
  "use strict";
  var url = document.currentScript && document.currentScript.dataset.clic;
  if (!url) return;
  if (!(navigator.sendBeacon && navigator.sendBeacon(url))) {
    fetch(url, { method: "POST", credentials: "omit", keepalive: true });
  }
})();
