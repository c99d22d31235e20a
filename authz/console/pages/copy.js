// copy.js: a button with data-copy="ID" copies the text of element ID to
// the clipboard and says so in its status element (data-copy-status).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      var src = document.getElementById(b.getAttribute("data-copy"));
      var status = document.getElementById(b.getAttribute("data-copy-status"));
      var say = function (t) { if (status) { status.textContent = t; } };
      if (!src || !navigator.clipboard) { say("Copy is not available: select the text and copy it."); return; }
      navigator.clipboard.writeText(src.textContent).then(function () { say("Copied."); }, function () {
        say("Copy is not available: select the text and copy it.");
      });
    });
  });
});
