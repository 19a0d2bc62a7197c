// Clinician triage list: polls a small fingerprint; reloads the list when something changed.
(function () {
  "use strict";
  var configEl = document.getElementById("triage-config");
  var stateEl = document.getElementById("triage-state");
  if (!configEl || !stateEl || !window.fetch) { return; }
  var config = JSON.parse(configEl.textContent);
  var state = stateEl.getAttribute("data-state");
  var notice = document.getElementById("new-results");
  var filters = document.getElementById("filters");

  function busy() {
    var active = document.activeElement;
    return active && filters && filters.contains(active) && active.tagName !== "BUTTON";
  }

  function poll() {
    fetch(config.url, { headers: { "Accept": "application/json" }, cache: "no-store", credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        if (data.state !== state) {
          if (busy()) { notice.classList.remove("hidden"); } else { window.location.reload(); return; }
        }
        window.setTimeout(poll, config.interval);
      })
      .catch(function () { window.setTimeout(poll, config.interval * 3); });
  }
  window.setTimeout(poll, config.interval);
})();
