/* Asks the room for the page's comments as soon as the page's head is read, while the book's
   stylesheets and scripts load; annotate.js (run later, deferred) takes the answer from here
   (or asks itself when this script has not run yet). */
(function () {
  "use strict";
  var data = document.getElementById("igcb-annotate");
  if (!data || window.igcbAnnotations) return;
  var cfg = JSON.parse(data.textContent);
  window.igcbAnnotations = fetch(cfg.api + "?page=" + encodeURIComponent(cfg.page), {
    credentials: "same-origin", headers: {"X-XSRFToken": cfg.xsrf, "Accept": "application/json"}});
}());
