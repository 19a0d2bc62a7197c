// Pages with an error summary: focus it, so keyboard and screen-reader users start there.
(function () {
  "use strict";
  var summary = document.getElementById("form-errors") || document.getElementById("recover-too-many");
  if (summary) { summary.focus(); }
})();
