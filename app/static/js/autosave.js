/* Autosave for the expert page: each change is sent as JSON a moment after it is made.
   Without JavaScript the Save and Submit buttons do the same job. */
(function () {
  "use strict";
  var form = document.getElementById("answers");
  if (!form || !window.fetch || !form.hasAttribute("data-autosave")) { return; }  // a preview saves nothing
  var url = form.getAttribute("data-autosave");
  var csrf = form.getAttribute("data-csrf");
  var threshold = parseFloat(form.getAttribute("data-threshold") || "0");
  var text = document.getElementById("i18n").dataset;
  var savedAt = document.getElementById("saved-at");
  var progress = document.getElementById("progress-text");
  var pending = {};
  var timer = null;

  // One collector per question kind: what the page holds of an answer, as the server reads it.
  var collectors = {
    rating: function (box, id, answer) {
      var picked = box.querySelector('input[name="v' + id + '"]:checked');
      answer.value = picked ? parseFloat(picked.value) : null;
    },
    open: function (box, id, answer) { answer.text = valueOf(box, "t" + id) || null; },
    choice: function (box, id, answer) {
      answer.values = Array.prototype.map.call(box.querySelectorAll('input[name="c' + id + '"]:checked'),
        function (i) { return i.value; });
    },
    ranking: function (box, id, answer) {
      // the rank chosen per option, ties included: the server refuses a tie, it never renumbers
      answer.ranks = {};
      box.querySelectorAll("select").forEach(function (s) { answer.ranks[s.getAttribute("data-option")] = s.value || null; });
    },
    estimate: function (box, id, answer) {
      answer.values = Array.prototype.map.call(box.querySelectorAll('input[name^="q' + id + '_"]'),
        function (i) { return i.value.replace(",", "."); });
    }
  };

  function answerOf(box) {
    var id = box.getAttribute("data-item");
    var answer = { reason: valueOf(box, "r" + id) || null, unable: checked(box, "u" + id) };
    collectors[box.getAttribute("data-kind")](box, id, answer);
    return answer;
  }
  function valueOf(box, name) { var el = box.querySelector('[name="' + name + '"]'); return el ? el.value.trim() : ""; }
  function checked(box, name) { var el = box.querySelector('[name="' + name + '"]'); return !!(el && el.checked); }

  // An answer far from the group's median opens the "please say why" box; moving back near it (with
  // the arrow keys, say) closes it again unless a reason was written.
  function flagFar(box) {
    var median = parseFloat(box.getAttribute("data-median"));
    var picked = box.querySelector('input[type="radio"]:checked');
    var details = box.querySelector(".reason-box");
    if (isNaN(median) || !picked || !details || !threshold) { return; }
    var summary = details.querySelector("summary");
    if (!details.hasAttribute("data-summary")) { details.setAttribute("data-summary", summary.textContent); }
    var far = Math.abs(parseFloat(picked.value) - median) >= threshold;
    if (far) {
      if (!details.open) { details.setAttribute("data-opened-by-page", ""); }
      details.open = true;
      summary.textContent = text.far;
    } else if (details.hasAttribute("data-opened-by-page") && !valueOf(box, "r" + box.getAttribute("data-item"))) {
      details.open = false;
      details.removeAttribute("data-opened-by-page");
      summary.textContent = details.getAttribute("data-summary");
    }
  }

  // The status line is a live region: it changes only when there is news (a save in a new minute, a
  // failure), so that a screen reader is not interrupted at every arrow key.
  function say(message) { if (savedAt.textContent !== message) { savedAt.textContent = message; } }

  function send() {
    timer = null;
    var batch = pending;
    pending = {};
    if (!Object.keys(batch).length) { return; }
    fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: JSON.stringify({ answers: batch })
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, status: response.status, body: body }; });
    }).then(function (r) {
      document.querySelectorAll(".field-error.autosave").forEach(function (e) { e.remove(); });
      if (r.ok) {
        retryDelay = 2000;
        // the page now shows these versions: its Save button will not be taken for a stale tab
        Object.keys(r.body.versions || {}).forEach(function (id) {
          var base = form.querySelector('input[name="b' + id + '"]');
          if (base) { base.value = r.body.versions[id]; }
        });
        var when = new Date(r.body.saved_at);
        say(text.saved + " " + when.toLocaleTimeString(document.documentElement.lang || [], { hour: "2-digit", minute: "2-digit" }));
        progress.textContent = r.body.answered + " / " + r.body.total + " " + text.answered;
      } else if (r.status === 409 || r.status === 410) {
        say(text.closed);
      } else if (r.status === 429 || r.status >= 500) {
        retry(batch);  // the server is busy or failed: nothing is lost, it is sent again
      } else {
        say(r.body.detail || text.failed);
        Object.keys(r.body.fields || {}).forEach(function (key) {
          var box = document.getElementById(key.replace("item_", "item-"));
          if (box) {
            var p = document.createElement("p");
            p.className = "field-error autosave"; p.setAttribute("role", "alert"); p.textContent = r.body.fields[key];
            box.querySelector("fieldset").appendChild(p);
          }
        });
      }
    }).catch(function () { retry(batch); });
  }

  var retryDelay = 2000;
  function retry(batch) {
    // newer edits of the same item win over the batch that failed
    Object.keys(batch).forEach(function (k) { if (!(k in pending)) { pending[k] = batch[k]; } });
    say(text.failed);
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(send, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 60000);
  }

  form.addEventListener("change", onEdit);
  form.addEventListener("input", function (event) { if (event.target.tagName === "TEXTAREA") { onEdit(event); } });
  function onEdit(event) {
    var box = event.target.closest(".item");
    if (!box) { return; }
    pending[box.getAttribute("data-item")] = answerOf(box);
    var marker = box.querySelector(".unchanged");
    if (marker) { marker.remove(); }
    if (event.target.type === "radio") { flagFar(box); }
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(send, event.target.tagName === "TEXTAREA" ? 1500 : 400);
  }
  window.addEventListener("beforeunload", function () { if (Object.keys(pending).length) { send(); } });
})();
