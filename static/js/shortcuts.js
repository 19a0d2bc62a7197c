// Keyboard shortcuts of the triage list and the detail page, listed in the help dialog ("?").
// Nothing happens while the user types in a field, or with Alt/Meta held.
(function () {
  "use strict";
  var dialog = document.getElementById("shortcuts");
  var opener = document.getElementById("shortcuts-open");
  var table = document.getElementById("triage-table");
  var reviewForm = document.getElementById("review-form");

  function typing(el) {
    if (!el) { return false; }
    var tag = el.tagName;
    return tag === "INPUT" && !/^(radio|checkbox|button|submit)$/.test(el.type) ||
      tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
  function openHelp() { if (dialog && !dialog.open) { dialog.showModal(); } }
  if (opener) { opener.addEventListener("click", openHelp); }

  // --- list: a "current" row that j/k move and o/Enter open ----------------------------------
  var rows = table ? Array.prototype.slice.call(table.querySelectorAll("tbody tr")) : [];
  var current = -1;
  function select(index) {
    if (!rows.length) { return; }
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach(function (row, i) { row.classList.toggle("selected", i === current); });
    var link = rows[current].querySelector("a.ref");
    if (link) { link.focus(); }
  }
  rows.forEach(function (row, i) {
    var link = row.querySelector("a.ref");
    if (link) { link.addEventListener("focus", function () { current = i; rows.forEach(function (r, j) { r.classList.toggle("selected", j === i); }); }); }
  });

  function go(id) { var el = document.getElementById(id); if (el && el.href) { window.location.href = el.href; return true; } return false; }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.metaKey) { return; }
    var target = event.target;
    if (event.ctrlKey) {
      if (event.key === "Enter" && reviewForm) {
        event.preventDefault();
        reviewForm.requestSubmit();
      }
      return;
    }
    if (typing(target)) { return; }
    var key = event.key;
    var handled = true;
    if (key === "?") { openHelp(); }
    else if (key === "/") { window.location.href = document.querySelector("a[href$='/clinic/search/']").href; }
    else if (table && (key === "j" || key === "ArrowDown")) { select(current + 1); }
    else if (table && (key === "k" || key === "ArrowUp")) { select(current - 1); }
    else if (table && key === "o" && current >= 0) { rows[current].querySelector("a.ref").click(); }
    else if (table && key === "u") {
      var first = table.querySelector("tbody tr.unreviewed a.ref");
      if (first) { first.click(); } else { handled = false; }
    }
    else if (table && key === "r") {
      var notice = document.getElementById("new-results");
      if (notice && !notice.classList.contains("hidden")) { document.getElementById("refresh-link").click(); } else { handled = false; }
    }
    else if (reviewForm && /^[1-9]$/.test(key)) {
      var radios = reviewForm.querySelectorAll("input[type=radio][name=decision]");
      var radio = radios[parseInt(key, 10) - 1];
      if (radio) { radio.checked = true; radio.focus(); } else { handled = false; }
    }
    else if (reviewForm && key === "d") {
      var chosen = reviewForm.querySelector("input[name=decision]:checked") || reviewForm.querySelector("input[name=decision]");
      if (chosen) { chosen.focus(); }
    }
    else if (!table && key === "n") { handled = go("next-unreviewed"); }
    else if (!table && key === "b") { handled = go("back-to-list"); }
    else if (!table && key === "h") {
      var toggle = document.getElementById("heat-toggle");
      if (toggle) { toggle.click(); } else { handled = false; }
    }
    else { handled = false; }
    if (handled) { event.preventDefault(); }
  });
})();
