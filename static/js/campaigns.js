/* Campaign pages: copy the public link, print the poster. The pages work without it. */
(function () {
  "use strict";

  function setUpCopy(button) {
    var field = document.querySelector("[data-copy-source]");
    if (!field || !navigator.clipboard) {
      return;
    }
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(function () {
        button.textContent = button.getAttribute("data-copied-text") || label;
        window.setTimeout(function () { button.textContent = label; }, 2000);
      }, function () {
        field.focus();
        field.select();
      });
    });
    field.addEventListener("focus", function () { field.select(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-copy-button]"), setUpCopy);
    Array.prototype.forEach.call(document.querySelectorAll("[data-print-button]"), function (b) {
      b.hidden = false;
      b.addEventListener("click", function () { window.print(); });
    });
  });
})();
