/* The pages for people (contacts, conversations): confirmations before deleting, the reply box's counter
   (GSM-7 or UCS-2, parts, characters left), templates put into the reply, and the conversation kept current by
   polling. Everything works without script except the counter and the polling. */
(function () {
  "use strict";
  var GSM7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
             "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM7_EXT = "^{}\\[~]|€\f";

  Array.prototype.forEach.call(document.querySelectorAll("form.confirm"), function (form) {
    form.addEventListener("submit", function (e) { if (!window.confirm(form.dataset.confirm)) e.preventDefault(); });
  });

  function measure(text) {  /* as gateway/rules/text.py segments: septets or UTF-16 units, and parts */
    var septets = 0, gsm = true;
    for (var i = 0; i < text.length; i++) {
      var c = text.charAt(i);
      if (GSM7.indexOf(c) >= 0) septets += 1;
      else if (GSM7_EXT.indexOf(c) >= 0) septets += 2;
      else { gsm = false; break; }
    }
    var units = gsm ? septets : text.length, single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
    var parts = units === 0 ? 0 : units <= single ? 1 : Math.ceil(units / multi);
    var room = parts <= 1 ? single - units : parts * multi - units;
    return {encoding: gsm ? "GSM-7" : "UCS-2", parts: parts, left: room};
  }

  var body = document.getElementById("reply-body"), counter = document.getElementById("reply-counter");
  function count() {
    var m = measure(body.value);
    counter.textContent = m.encoding + " · " + m.parts + (m.parts === 1 ? " part" : " parts") + " · " +
      m.left + " characters left" + (m.parts > 1 ? " in the last part" : "");
  }
  if (body && counter) { body.addEventListener("input", count); count(); }

  var templates = document.getElementById("reply-template");
  if (templates && body) {
    templates.addEventListener("change", function () {
      if (!templates.value) return;
      body.value = body.value ? body.value + " " + templates.value : templates.value;
      templates.value = "";
      count();
      body.focus();
    });
  }

  var talk = document.getElementById("talk"), thread = document.getElementById("thread");
  function toBottom() { if (thread) thread.scrollTop = thread.scrollHeight; }
  toBottom();
  if (talk) {
    var url = talk.dataset.poll + (talk.dataset.number ? "?number=" + encodeURIComponent(talk.dataset.number) : "");
    window.setInterval(function () {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (data) {
        if (!data) return;
        var list = document.getElementById("threads");
        if (list && list.innerHTML !== data.threads) list.innerHTML = data.threads;
        if (thread && data.thread !== null && thread.innerHTML !== data.thread) {
          thread.innerHTML = data.thread;
          toBottom();
        }
      }).catch(function () {});
    }, 3000);
  }
})();
