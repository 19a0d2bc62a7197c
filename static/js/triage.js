// Clinician triage list: asks in the background how many results arrived since the page was
// shown and announces "3 new results - show them". The list itself never moves under the user:
// only the clinician's click (or "r") loads the new list, from its first page (new results may
// sort before the page shown: the list is paged by a cursor, not a page number).
(function () {
  "use strict";
  var configEl = document.getElementById("triage-config");
  var stateEl = document.getElementById("triage-state");
  if (!configEl || !stateEl || !window.fetch) { return; }
  var config = JSON.parse(configEl.textContent);
  var since = stateEl.getAttribute("data-since");
  var url = stateEl.getAttribute("data-new-url");
  var notice = document.getElementById("new-results");
  var text = document.getElementById("new-results-text");
  var link = document.getElementById("refresh-link");
  var shown = -1;

  var firstUrl = stateEl.getAttribute("data-first-url");
  if (firstUrl) { link.setAttribute("href", firstUrl); }
  link.addEventListener("click", function (event) {
    event.preventDefault();
    if (firstUrl) { window.location.assign(firstUrl); } else { window.location.reload(); }
  });

  function poll() {
    fetch(url + "?since=" + encodeURIComponent(since), {
      headers: { "Accept": "application/json" }, cache: "no-store", credentials: "same-origin"
    })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        if (data.new > 0 && data.new !== shown) {
          shown = data.new;
          text.textContent = data.text;
          notice.classList.remove("hidden");
        }
        window.setTimeout(poll, config.interval);
      })
      .catch(function () { window.setTimeout(poll, config.interval * 3); });
  }
  window.setTimeout(poll, config.interval);
})();
