// "PNG" beside a results chart: draws the chart's SVG file on a canvas, three times its size, and
// downloads it as a PNG (slides that do not take SVG). Without JavaScript the link opens the SVG.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-png]") : null;
    if (!link) return;
    event.preventDefault();
    fetch(link.href, { credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (svg) {
        var image = new Image();
        image.onload = function () {
          var canvas = document.createElement("canvas");
          canvas.width = image.width;
          canvas.height = image.height;
          canvas.getContext("2d").drawImage(image, 0, 0);
          var save = document.createElement("a");
          save.href = canvas.toDataURL("image/png");
          save.download = link.getAttribute("data-png");
          document.body.appendChild(save);
          save.click();
          save.remove();
        };
        image.src = "data:image/svg+xml;base64," + btoa(unescape(encodeURIComponent(svg)));
      });
  });
})();
