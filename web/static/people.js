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

  /* a textarea with data-counter="<id>" has its count shown there; a select with data-insert="<id>" puts the
     chosen template's text into that textarea */
  Array.prototype.forEach.call(document.querySelectorAll("textarea[data-counter]"), function (box) {
    var counter = document.getElementById(box.dataset.counter);
    function count() {
      var m = measure(box.value);
      counter.textContent = m.encoding + " · " +
        (m.parts === 1 ? _("{n} part", {n: m.parts}) : _("{n} parts", {n: m.parts})) + " · " +
        (m.parts > 1 ? _("{n} characters left in the last part", {n: m.left}) : _("{n} characters left", {n: m.left}));
    }
    box.addEventListener("input", count);
    box.addEventListener("change", count);
    count();
  });
  Array.prototype.forEach.call(document.querySelectorAll("select[data-insert]"), function (picker) {
    var box = document.getElementById(picker.dataset.insert);
    picker.addEventListener("change", function () {
      if (!picker.value) return;
      box.value = box.value ? box.value + " " + picker.value : picker.value;
      picker.value = "";
      box.dispatchEvent(new Event("input"));
      box.focus();
    });
  });

  /* a time zone field left at UTC starts at the browser's own zone: the person's "9:00" means theirs */
  Array.prototype.forEach.call(document.querySelectorAll("input[data-default-zone]"), function (field) {
    var zone = window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && field.value === "UTC") field.value = zone;
  });

  var campaign = document.getElementById("campaign");
  if (campaign) {  /* the campaign's messages by state, from GET /api/v1/batches/<id> */
    window.setInterval(function () {
      fetch(campaign.dataset.batch, {credentials: "same-origin"}).then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (batch) {
        if (!batch) return;
        Array.prototype.forEach.call(campaign.querySelectorAll("[data-state]"), function (node) {
          var n = batch.counts[node.dataset.state] || 0;
          if (node.tagName === "DD") node.textContent = n; else node.style.flexGrow = n;
        });
      }).catch(function () {});
    }, 3000);
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
