// Patient status page: polls the status API and updates the text; stops once final. Also the
// copy-link button and the submission time in the browser's own time zone.
(function () {
  "use strict";
  var card = document.getElementById("status-card");

  // --- copy the private link ------------------------------------------------------------------
  var copy = document.getElementById("copy-link");
  var link = document.getElementById("status-link");
  var copyStatus = document.getElementById("copy-status");
  if (copy && link) {
    copy.addEventListener("click", function () {
      function done() { copyStatus.textContent = copy.getAttribute("data-copied"); }
      link.select();
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(link.value).then(done, function () {
          document.execCommand("copy"); done();
        });
      } else {
        document.execCommand("copy"); done();
      }
    });
  }

  // --- local time with its zone ---------------------------------------------------------------
  var submitted = document.getElementById("submitted-at");
  if (submitted && window.Intl && Intl.DateTimeFormat) {
    try {
      var when = new Date(submitted.getAttribute("datetime"));
      submitted.textContent = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
        // (dateStyle/timeStyle cannot be combined with timeZoneName)
        year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
        timeZoneName: "short"
      }).format(when).replace(/\u202f/g, " ");
    } catch (e) { /* keep the server's rendering */ }
  }

  // --- live status ----------------------------------------------------------------------------
  var configEl = document.getElementById("status-config");
  if (!configEl || !card || !window.fetch) { return; }
  var config = JSON.parse(configEl.textContent);
  var title = document.getElementById("status-title");
  var detail = document.getElementById("status-detail");
  var progress = document.getElementById("progress");
  var resubmit = document.getElementById("resubmit");
  var liveNote = document.getElementById("live-note");
  var wait = document.getElementById("expected-wait");

  function render(data) {
    var text;
    var reviewed = "";
    var decision = "";
    if (data.review) {
      decision = data.review.decision;
      text = config.decisions[decision];
      reviewed = "1";
      text = { title: text.title, detail: text.detail, step: "4" };
    } else {
      text = config.statuses[data.status];
    }
    var failed = data.status === "failed" || data.status === "rejected";
    var final = Boolean(data.review) || failed;
    card.setAttribute("data-status", data.status);
    card.setAttribute("data-reviewed", reviewed);
    card.setAttribute("data-decision", decision);
    progress.setAttribute("data-step", text.step);
    Array.prototype.forEach.call(progress.querySelectorAll("li"), function (li) {
      if (li.getAttribute("data-step") === text.step) { li.setAttribute("aria-current", "step"); }
      else { li.removeAttribute("aria-current"); }
    });
    if (title.textContent !== text.title) { title.textContent = text.title; }
    // Failed screenings keep the server-rendered reason.
    if (!failed) { detail.textContent = text.detail; }
    if (resubmit) { resubmit.classList.toggle("hidden", !(failed || decision === "unusable")); }
    if (final) {
      if (liveNote) { liveNote.classList.add("hidden"); }
      if (wait) { wait.classList.add("hidden"); }
    }
    return final;
  }

  function poll() {
    fetch(config.url, { headers: { "Accept": "application/json" }, cache: "no-store", credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        var final = render(data);
        if (!final) { window.setTimeout(poll, config.interval); }
      })
      .catch(function () { window.setTimeout(poll, config.interval * 3); });
  }

  var status = card.getAttribute("data-status");
  if (card.getAttribute("data-reviewed") !== "1" && status !== "failed" && status !== "rejected") {
    window.setTimeout(poll, config.interval);
  }
})();
