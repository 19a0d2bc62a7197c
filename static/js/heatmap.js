// Detail page: show/hide the Grad-CAM heatmap over the radiograph, its opacity and its class.
(function () {
  "use strict";
  var toggle = document.getElementById("heat-toggle");
  var slider = document.getElementById("heat-opacity");
  var output = document.getElementById("heat-opacity-value");
  var select = document.getElementById("heat-class");
  var layers = document.querySelectorAll(".heat-layer");
  if (!toggle || !slider || !layers.length) { return; }

  function update() {
    var chosen = select ? select.value : layers[0].getAttribute("data-class");
    var opacity = String(parseInt(slider.value, 10) / 100);
    Array.prototype.forEach.call(layers, function (layer) {
      var visible = toggle.checked && layer.getAttribute("data-class") === chosen;
      layer.classList.toggle("hidden", !visible);
      layer.style.opacity = opacity; // CSSOM: allowed by the page's CSP (no inline styles)
    });
    slider.disabled = !toggle.checked;
    if (select) { select.disabled = !toggle.checked; }
    if (output) { output.textContent = slider.value + " %"; }
  }
  toggle.addEventListener("change", update);
  slider.addEventListener("input", update);
  if (select) { select.addEventListener("change", update); }
  update();
})();
