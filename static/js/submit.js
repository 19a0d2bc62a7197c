// Upload form: tell the patient at once when the file is too large; avoid double submission.
(function () {
  "use strict";
  var form = document.getElementById("submit-form");
  var input = document.getElementById("id_image");
  var error = document.getElementById("image-size-error");
  var button = document.getElementById("submit-button");
  if (!form || !input) { return; }
  var maxBytes = parseInt(input.getAttribute("data-max-bytes"), 10);

  function tooLarge() {
    var file = input.files && input.files[0];
    if (file && maxBytes && file.size > maxBytes) {
      error.textContent = "The file is too large (" + (file.size / 1048576).toFixed(1) +
        " MB). The maximum is " + Math.round(maxBytes / 1048576) + " MB.";
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
    button.textContent = "Sending…";
  });
})();
