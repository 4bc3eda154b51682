/* The scripts' texts in the page's language: `_("text")`, or `_("{n} left", {n: 3})` with its fields filled in.
   The page carries the translations the scripts need (web/i18n.py); in English it carries none. */
(function () {
  "use strict";
  var holder = document.getElementById("i18n-strings");
  var strings = holder ? JSON.parse(holder.textContent) : {};
  window._ = function (text, fields) {
    var said = strings[text] || text;
    return fields ? said.replace(/\{(\w+)\}/g, function (all, name) { return name in fields ? fields[name] : all; })
                  : said;
  };
})();
