/* The contacts pages: a confirmation before deleting. Everything else works without script. */
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("form.confirm"), function (form) {
    form.addEventListener("submit", function (e) { if (!window.confirm(form.dataset.confirm)) e.preventDefault(); });
  });
})();
