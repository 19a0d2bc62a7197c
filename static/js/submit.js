// Upload form: tell the patient at once when the file is too large; avoid double submission;
// move focus to the error summary so that screen readers and keyboards start there.
(function () {
  "use strict";
  var gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (fmt, obj) {
    return fmt.replace(/%\((\w+)\)s/g, function (m, k) { return String(obj[k]); });
  };
  var summary = document.getElementById("form-errors");
  if (summary) { summary.focus(); }
  var form = document.getElementById("submit-form");
  var input = document.getElementById("id_image");
  var error = document.getElementById("image-size-error");
  var button = document.getElementById("submit-button");
  if (!form || !input) { return; }
  var maxBytes = parseInt(input.getAttribute("data-max-bytes"), 10);

  function tooLarge() {
    var file = input.files && input.files[0];
    if (file && maxBytes && file.size > maxBytes) {
      error.textContent = interpolate(
        gettext("The file is too large (%(size)s MB). The maximum is %(max)s MB."),
        { size: (file.size / 1048576).toFixed(1), max: Math.round(maxBytes / 1048576) }, true);
      error.classList.remove("hidden");
      return true;
    }
    error.classList.add("hidden");
    return false;
  }
  input.addEventListener("change", tooLarge);
  form.addEventListener("submit", function (event) {
    if (tooLarge()) { event.preventDefault(); return; }
    button.disabled = true;
    button.textContent = gettext("Sending…");
  });
  // Back to this page from the browser's cache: the form must be usable again.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { button.disabled = false; button.textContent = gettext("Submit X-ray"); }
  });
})();
