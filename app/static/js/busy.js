// A form that starts a long action (closing and analysing a round, importing a panel, opening a
// round that mails everyone) says so while the server works: its button is disabled (no second
// click) and a status line, read by screen readers, says what is happening. Forms mark themselves
// with data-busy="what is being done".
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-busy]") || event.defaultPrevented) return;
    var button = event.submitter || form.querySelector("button[type=submit], button:not([type])");
    var status = form.querySelector(".busy-status");
    if (!status) {
      status = document.createElement("p");
      status.className = "busy-status small";
      status.setAttribute("role", "status");
      form.appendChild(status);
    }
    if (button) {
      if (button.name) {  // a disabled button sends nothing: its name and value go in a hidden field
        var kept = document.createElement("input");
        kept.type = "hidden";
        kept.name = button.name;
        kept.value = button.value;
        form.appendChild(kept);
      }
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
    }
    status.textContent = form.getAttribute("data-busy");
  });
  // back from the browser's cache (the back button): the form is usable again
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-busy] button[aria-busy]").forEach(function (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    });
    document.querySelectorAll(".busy-status").forEach(function (status) { status.textContent = ""; });
  });
})();
