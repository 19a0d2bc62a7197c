// Patient status page: polls the status API and updates the text; stops once final.
(function () {
  "use strict";
  var configEl = document.getElementById("status-config");
  if (!configEl || !window.fetch) { return; }
  var config = JSON.parse(configEl.textContent);
  var card = document.getElementById("status-card");
  var title = document.getElementById("status-title");
  var detail = document.getElementById("status-detail");
  var progress = document.getElementById("progress");
  var timer = null;

  function render(data) {
    var text;
    var reviewed = "";
    if (data.review) {
      text = config.decisions[data.review.decision];
      reviewed = "1";
      text = { title: text.title, detail: text.detail, step: "4" };
    } else {
      text = config.statuses[data.status];
    }
    card.setAttribute("data-status", data.status);
    card.setAttribute("data-reviewed", reviewed);
    progress.setAttribute("data-step", text.step);
    if (title.textContent !== text.title) { title.textContent = text.title; }
    // Failed screenings keep the server-rendered reason.
    if (data.status !== "failed" && data.status !== "rejected") { detail.textContent = text.detail; }
    return Boolean(data.review) || data.status === "failed" || data.status === "rejected";
  }

  function poll() {
    fetch(config.url, { headers: { "Accept": "application/json" }, cache: "no-store", credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        var final = render(data);
        if (!final) { timer = window.setTimeout(poll, config.interval); }
      })
      .catch(function () { timer = window.setTimeout(poll, config.interval * 3); });
  }

  if (card.getAttribute("data-reviewed") !== "1") { timer = window.setTimeout(poll, config.interval); }
})();
