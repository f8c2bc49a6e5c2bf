/* A control reached with the keyboard is never left under a sticky bar (WCAG 2.4.11): browsers
   do not scroll to a control that is already inside the window, even when a bar covers it. */
(function () {
  "use strict";
  var bars = document.querySelectorAll(".sticky-bar");
  if (!bars.length) { return; }
  function clear(target) {
    bars.forEach(function (bar) {
      if (bar.contains(target) || getComputedStyle(bar).position !== "sticky") { return; }
      var box = target.getBoundingClientRect();
      var cover = bar.getBoundingClientRect();
      if (box.bottom > cover.top && box.top < cover.bottom) {
        window.scrollBy(0, box.bottom - cover.top + 16);
      }
    });
  }
  // now, and again once the browser has scrolled the control into view (it may do so after focusin)
  document.addEventListener("focusin", function (event) {
    clear(event.target);
    window.requestAnimationFrame(function () { clear(event.target); });
  });
}());
