/* smsgw status page: polls /status.json and redraws without a full reload. No data goes through innerHTML. */
(function () {
  "use strict";
  var POLL_MS = 5000;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var revealed = {};          // message id -> body text the operator asked to see
  var range = "hour";
  // dates and times as the page's language writes them (an English page: as the browser does)
  var LOCALE = document.documentElement.lang && document.documentElement.lang !== "en" ? document.documentElement.lang
                                                                                        : undefined;
  var last = null, lastOk = 0, chart = null, chartRange = null;

  function el(tag, attrs) {
    var node = document.createElement(tag);
    for (var key in attrs || {}) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "class") node.className = attrs[key];
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), attrs[key]);
      else node.setAttribute(key, attrs[key]);
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    }
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function pill(state, label) { return el("span", {class: "pill " + state, text: label || state.replace("_", " ")}); }

  function ago(iso, now) {
    if (!iso) return "—";
    var s = Math.max(0, (Date.parse(now) - Date.parse(iso)) / 1000);
    if (s < 60) return _("{n} s ago", {n: Math.round(s)});
    if (s < 3600) return _("{n} min ago", {n: Math.round(s / 60)});
    if (s < 86400) return _("{n} h ago", {n: Math.round(s / 3600)});
    return new Date(iso).toLocaleString(LOCALE);
  }
  function duration(s) {
    if (s === null || s === undefined) return "—";
    if (s < 60) return Math.round(s) + " s";
    if (s < 3600) return Math.round(s / 60) + " min";
    return (s / 3600).toFixed(1) + " h";
  }

  function actionForm(action, label, cls, confirmText) {
    var form = el("form", {method: "post", action: action},
      el("input", {type: "hidden", name: "csrf_token", value: csrf}),
      el("button", {type: "submit", class: "btn btn-small " + (cls || ""), text: label}));
    if (confirmText) form.addEventListener("submit", function (e) { if (!window.confirm(confirmText)) e.preventDefault(); });
    return form;
  }

  function renderHealth(items) {
    var box = clear(document.getElementById("health"));
    items.forEach(function (f) {
      var cls = f.ok === null ? "" : (f.ok ? "ok" : "bad");
      box.appendChild(el("div", {class: "figure " + cls, "data-key": f.key},
        el("div", {class: "label", text: f.label}),
        el("div", {class: "value", text: f.display}),
        el("div", {class: "target"}, el("span", {class: "dot"}), f.ok === null ? _("{target} · no data yet", {target: f.target}) : f.target)));
    });
  }

  function bars(n) {
    var b = el("span", {class: "bars", role: "img", "aria-label": _("{n} of 4 bars", {n: n})});
    for (var i = 1; i <= 4; i++) b.appendChild(el("i", {class: i <= n ? "on" : ""}));
    return b;
  }

  function storage(m) {
    if (m.storage_total === null || m.storage_used === null) return el("dd", {class: "storage", text: "—"});
    var full = m.storage_used >= m.storage_total;
    return el("dd", {class: full ? "storage bad-text" : "storage",
                     title: full ? _("full: new SMS cannot arrive until it is emptied") : _("SMS waiting in the modem"),
                     text: full ? _("{used} of {total} · full", {used: m.storage_used, total: m.storage_total})
                                 : _("{used} of {total}", {used: m.storage_used, total: m.storage_total})});
  }

  // What a modem's last error means, in words an operator can act on; the modem's own words behind a toggle.
  var PLAIN_ERRORS = [
    [/upstream .* cannot be reached|upstream .* answers HTTP 5/i, _("The provider cannot be reached: is it up, and its URL right?")],
    [/refuses our account|refused us/i, _("The provider refuses our account: check its credentials.")],
    [/could not open port|no such file|port not found/i, _("Port not found: is the modem unplugged?")],
    [/reader died|port failed|disconnected|returned no data|I\/O error/i, _("The modem's port stopped: unplugged or reset?")],
    [/sim/i, _("Problem with the SIM card: is it in, and unlocked?")],
    [/pin/i, _("The SIM needs its PIN (set pin in the modem's config).")],
    [/timeout|no answer|did not answer/i, _("The modem does not answer.")],
    [/not registered|searching|network/i, _("No mobile network.")],
    [/stopped/i, _("Stopped with the gateway.")]
  ];
  function lastError(text) {
    var plain = _("The modem reported a problem.");
    for (var i = 0; i < PLAIN_ERRORS.length; i++) {
      if (PLAIN_ERRORS[i][0].test(text)) { plain = PLAIN_ERRORS[i][1]; break; }
    }
    return el("details", {class: "last-error"}, el("summary", {text: plain}), el("code", {text: text}));
  }

  // Its measured delivery (the last reported parts), and why adaptive routing leaves it only spare work.
  function delivery(m) {
    if (!m.delivery) return el("dd", {class: "delivery", text: "—", title: _("no delivery report yet")});
    var d = m.delivery, percent = Math.round(d.ratio * 100) + " %";
    var said = d.report_p50_s === null ? _("{percent} of {reported}", {percent: percent, reported: d.reported})
      : _("{percent} of {reported}, report in {s} s", {percent: percent, reported: d.reported,
                                                       s: d.report_p50_s.toFixed(1)});
    return el("dd", {class: "delivery" + (m.deferred ? " bad-text" : ""), title: m.deferred || ""},
      said + (m.deferred ? " · " + _("deferred") : ""));
  }

  // Its plan's monthly bundle: what is used, and when it renews (used up, it takes no work until then).
  function bundle(b) {
    var fields = {used: b.used || 0, total: b.size};
    if (b.resets_at) fields.date = new Date(b.resets_at).toLocaleDateString(LOCALE, {day: "numeric", month: "short"});
    return el("dd", {class: "bundle" + (b.used >= b.size ? " bad-text" : "")},
      b.resets_at ? _("{used} of {total} · renews {date}", fields) : _("{used} of {total}", fields));
  }

  function renderModems(modems, now) {
    var box = clear(document.getElementById("modems"));
    var up = modems.filter(function (m) { return m.is_up; }).length;
    document.getElementById("modem-summary").textContent = _("{up} of {total} online", {up: up, total: modems.length});
    if (!modems.length) box.appendChild(el("p", {class: "muted", text: _("No modem has reported yet.")}));
    modems.forEach(function (m) {
      box.appendChild(el("article", {class: "modem", "data-modem": m.name, "data-state": m.state},
        el("div", {class: "modem-head"},
          el("span", {class: "modem-name", text: m.label || m.name},
             m.label ? el("span", {class: "muted small", text: " " + m.name}) : null), pill(m.state, m.state_label),
          m.degraded ? el("span", {class: "pill failed degraded", text: _("degraded"),
                                   title: _("its canary SMS did not arrive: it sends nothing but its own probes")}) : null),
        m.kind === "upstream" ? el("dl", {class: "modem-meta"},
          el("dt", {text: _("Provider")}), el("dd", {text: m.model || _("not reached yet")}),
          el("dt", {text: _("Address")}), el("dd", {class: "mono", text: m.port}),
          el("dt", {text: _("Box")}), el("dd", {class: "box", text: m.box || "—"}),
          el("dt", {text: _("Delivered")}), delivery(m)) :
        el("dl", {class: "modem-meta"},
          el("dt", {text: _("Operator")}), el("dd", {text: m.operator || "—"}),
          el("dt", {text: _("Signal")}), el("dd", {}, bars(m.bars), m.signal_dbm === null ? "—" : m.signal_dbm + " dBm"),
          el("dt", {text: _("Network")}), el("dd", {text: m.registration_label || m.registration || "—"}),
          el("dt", {text: _("Box")}), el("dd", {class: "box", text: m.box || "—"}),
          el("dt", {text: "IMEI"}), el("dd", {class: "mono", text: m.imei || "—"}),
          el("dt", {text: _("Device")}), el("dd", {text: m.model || "—"}),
          el("dt", {text: _("Number")}), el("dd", {class: "mono own-number", text: m.own_number || "—"}),
          el("dt", {text: _("Balance")}), el("dd", {class: "balance",
            title: (m.credit && m.balance ? m.balance + " · " : "") +
                   (m.balance_checked_at ? _("checked {when}", {when: ago(m.balance_checked_at, now)}) : _("not checked")),
            text: m.credit || m.balance || "—"}),
          el("dt", {text: _("Storage")}), storage(m),
          m.bundle ? el("dt", {text: _("Bundle")}) : null, m.bundle ? bundle(m.bundle) : null,
          el("dt", {text: _("Delivered")}), delivery(m)),
        m.last_error && !m.is_up ? lastError(m.last_error) : null,
        el("div", {class: "counts"},
          el("div", {}, el("b", {class: "sent-today", text: m.sent_today}), el("span", {text: _("sent today")})),
          el("div", {}, el("b", {class: m.failed_today ? "failed-today bad-text" : "failed-today", text: m.failed_today}),
             el("span", {text: _("failed today")})),
          el("div", {}, el("b", {text: m.received}), el("span", {text: _("received")}))),
        el("div", {class: "modem-foot"},
          el("span", {class: "muted", text: _("updated {when}", {when: ago(m.updated_at, now)})}),
          actionForm("/status/modems/" + encodeURIComponent(m.name) + "/reset", _("Reset modem"), "",
                     _("Reset modem {name}? It is closed and opened again; work it holds goes back to the queue.",
                       {name: m.name})))));
    });
  }

  function renderQueue(q) {
    var box = clear(document.getElementById("queue"));
    [["queued", q.queued, _("queued")], ["scheduled", q.scheduled, _("scheduled")], ["sending", q.sending, _("sending")],
     ["failed", q.failed_last_hour, _("failed in the last hour"), q.failed_last_hour > 0],
     ["oldest", duration(q.oldest_queued_age_s), _("oldest queued")]].forEach(function (s) {
      box.appendChild(el("div", {class: "stat" + (s[3] ? " bad" : ""), "data-stat": s[0]},
        el("div", {class: "n", text: s[1]}), el("div", {class: "l", text: s[2]})));
    });
  }

  var COLORS = {sent: "#2456d6", delivered: "#0f7a41", failed: "#c62a2a", received: "#9a5bd6"};
  var SERIES = {sent: _("sent"), delivered: _("delivered"), failed: _("failed"), received: _("received")};
  // uPlot writes dates as American English does (3:00pm, 12/31); a page in another language: 24 h, day/month
  // and its own month and day names
  var dateNames = null;
  function localDateNames() {
    if (dateNames) return dateNames;
    dateNames = {MMMM: [], MMM: [], WWWW: [], WWW: []};
    for (var i = 0; i < 12; i++) {
      var month = new Date(2021, i, 1);
      dateNames.MMMM.push(month.toLocaleDateString(LOCALE, {month: "long"}));
      dateNames.MMM.push(month.toLocaleDateString(LOCALE, {month: "short"}));
    }
    for (var d = 0; d < 7; d++) {
      var day = new Date(2021, 0, 3 + d);  // a Sunday, as uPlot's week starts
      dateNames.WWWW.push(day.toLocaleDateString(LOCALE, {weekday: "long"}));
      dateNames.WWW.push(day.toLocaleDateString(LOCALE, {weekday: "short"}));
    }
    return dateNames;
  }
  function chartDates(tpl) {
    return uPlot.fmtDate(tpl.replace("{M}/{D}", "{D}/{M}").replace("{h}:{mm}{aa}", "{HH}:{mm}")
                            .replace("{h}{aa}", "{HH} h").replace("{aa}", ""), localDateNames());
  }
  function renderChart(throughput) {
    var box = document.getElementById("chart");
    if (typeof uPlot === "undefined") return;
    var data = throughput[range];
    var names = ["sent", "delivered", "failed"].concat(data.received ? ["received"] : []);
    var rows = [data.starts].concat(names.map(function (n) { return data[n]; }));
    var width = Math.max(260, box.clientWidth);
    if (chart && chartRange === range && Math.abs(chart.width - width) < 2) { chart.setData(rows); return; }
    if (chart) chart.destroy();
    chartRange = range;
    chart = new uPlot({
      width: width, height: 230, fmtDate: LOCALE ? chartDates : undefined,
      cursor: {drag: {x: false, y: false}},
      legend: {live: false},  // the series' names and colours; a value per series only shows on hover otherwise
      scales: {x: {time: true}, y: {range: function (u, min, max) { return [0, Math.max(4, Math.ceil(max * 1.15))]; }}},
      axes: [{stroke: "#5b6376", grid: {stroke: "#eef0f4"}},
             {stroke: "#5b6376", grid: {stroke: "#eef0f4"}, size: 44,
              values: function (u, vals) { return vals.map(function (v) { return Number.isInteger(v) ? v : ""; }); }}],
      series: [{label: range === "hour" ? _("minute") : _("hour")}].concat(names.map(function (n) {
        return {label: SERIES[n], stroke: COLORS[n], width: 2, fill: n === "sent" ? "rgba(36,86,214,.08)" : undefined,
                points: {show: false}};
      }))
    }, rows, clear(box));
  }

  function bodyButton(kind, id, cols) {
    return el("button", {type: "button", class: "link", text: revealed[kind + id] !== undefined ? _("hide") : _("show text"),
      onclick: function () {
        if (revealed[kind + id] !== undefined) { delete revealed[kind + id]; redraw(); return; }
        fetch("/status/" + kind + "/" + encodeURIComponent(id) + "/body", {credentials: "same-origin"})
          .then(function (r) { return r.json(); })
          .then(function (j) { revealed[kind + id] = j.body !== undefined ? j.body : (j.error && j.error.message); redraw(); });
      }});
  }
  function bodyRow(kind, id, cols) {
    if (revealed[kind + id] === undefined) return null;
    return el("tr", {class: "body-row"}, el("td", {colspan: cols, text: revealed[kind + id]}));
  }

  function renderOutbound(rows, now) {
    var body = clear(document.querySelector("#outbound tbody"));
    if (!rows.length) body.appendChild(el("tr", {class: "empty"}, el("td", {colspan: 6, text: _("Nothing sent yet.")})));
    rows.forEach(function (m) {
      var actions = el("td", {class: "actions"}, bodyButton("messages", m.id, 6));
      if (m.can_cancel) actions.appendChild(actionForm("/status/messages/" + m.id + "/cancel", _("Cancel"), "btn-danger"));
      if (m.can_retry) actions.appendChild(actionForm("/status/messages/" + m.id + "/retry", _("Retry"), ""));
      body.appendChild(el("tr", {"data-id": m.id, "data-state": m.state},
        el("td", {class: "mono", text: m.to}),
        el("td", {}, pill(m.state, m.state_label), m.error ? el("span", {class: "muted", text: " " + m.error}) : null),
        el("td", {text: m.modem || "—"}), el("td", {text: m.parts}),
        el("td", {title: m.created_at, text: ago(m.created_at, now)}), actions));
      var extra = bodyRow("messages", m.id, 6);
      if (extra) body.appendChild(extra);
    });
  }

  function countPill(id, n, text) {
    var pill = document.getElementById(id);
    pill.hidden = !n;
    pill.textContent = text;
  }

  function renderInbound(rows, now, quarantined, waiting) {
    countPill("quarantined", quarantined, _("{n} unreadable SMS kept raw", {n: quarantined}));
    countPill("waiting", waiting, _("{n} SMS waiting for parts", {n: waiting}));
    var body = clear(document.querySelector("#inbound tbody"));
    if (!rows.length) body.appendChild(el("tr", {class: "empty"}, el("td", {colspan: 4, text: _("Nothing received yet.")})));
    rows.forEach(function (m) {
      body.appendChild(el("tr", {"data-id": m.id},
        el("td", {class: "mono", text: m.from}), el("td", {text: m.modem}),
        el("td", {title: m.received_at, text: ago(m.received_at, now)}),
        el("td", {class: "actions"}, bodyButton("inbox", m.id, 4))));
      var extra = bodyRow("inbox", m.id, 4);
      if (extra) body.appendChild(extra);
    });
  }

  function renderKeys(keys, now) {
    var body = clear(document.querySelector("#keys tbody"));
    if (!keys.length) body.appendChild(el("tr", {class: "empty"}, el("td", {colspan: 5, text: _("No API keys yet.")})));
    keys.forEach(function (k) {
      body.appendChild(el("tr", {class: k.revoked ? "revoked" : "", "data-key-id": k.id},
        el("td", {text: k.name}), el("td", {class: "mono", text: k.prefix + "…"}), el("td", {text: k.scopes}),
        el("td", {text: k.last_used_at ? ago(k.last_used_at, now) : _("never")}),
        el("td", {class: "actions"}, k.revoked ? el("span", {class: "muted", text: _("revoked")}) :
          actionForm("/status/keys/" + k.id + "/revoke", _("Revoke"), "btn-danger",
                     _("Revoke the API key “{name}”? Systems using it will be refused.", {name: k.name})))));
    });
  }

  function renderAlerts(alerts, now) {
    var box = clear(document.getElementById("alerts"));
    box.hidden = !alerts.length;
    alerts.forEach(function (a) {
      var line = el("p", {class: "notice notice-error alert", "data-kind": a.kind});
      line.appendChild(el("strong", {text: (a.muted ? _("Alert (muted):") : _("Alert:")) + " "}));
      line.appendChild(document.createTextNode(_("{message} · raised {when}", {message: a.message,
                                                                               when: ago(a.raised_at, now)})));
      box.appendChild(line);
    });
  }

  function redraw() {
    if (!last) return;
    renderAlerts(last.alerts, last.now);
    renderHealth(last.health);
    renderModems(last.modems, last.now);
    renderQueue(last.queue);
    renderChart(last.throughput);
    renderOutbound(last.outbound, last.now);
    renderInbound(last.inbound, last.now, last.quarantined, last.waiting_for_parts);
    renderKeys(last.keys, last.now);
  }

  // The box did not answer the last poll: what the page shows is old, and it must look old at once.
  function stale(on) {
    document.body.classList.toggle("stale", on);
    var banner = document.getElementById("stale-banner");
    banner.hidden = !on;
    if (on) banner.textContent = lastOk ? _("The box does not answer: what you see is from {time}, not now.",
                                            {time: new Date(lastOk).toLocaleTimeString(LOCALE)})
                                        : _("The box does not answer.");
  }

  function tick() {
    var stamp = document.getElementById("updated");
    var age = lastOk ? Math.round((Date.now() - lastOk) / 1000) : null;
    stamp.textContent = age === null ? _("loading…") : (age < 2 ? _("updated just now") : _("updated {n} s ago", {n: age}));
    stamp.classList.toggle("stale", age !== null && age > 3 * POLL_MS / 1000);
  }

  function poll() {
    var full = document.getElementById("show-numbers").checked;
    fetch("/status.json" + (full ? "?numbers=full" : ""), {credentials: "same-origin", cache: "no-store"})
      .then(function (r) {
        if (r.status === 401) { window.location = "/login"; throw new Error("logged out"); }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (data) {
        last = data; lastOk = Date.now(); stale(false); redraw(); tick(); document.body.dataset.loaded = "1";
      })
      .catch(function (e) { if (e.message !== "logged out") stale(true); tick(); })
      .then(function () { window.setTimeout(poll, POLL_MS); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("show-numbers").addEventListener("change", function () {
      fetch("/status.json" + (this.checked ? "?numbers=full" : ""), {credentials: "same-origin"})
        .then(function (r) { return r.json(); }).then(function (d) { last = d; redraw(); });
    });
    Array.prototype.forEach.call(document.querySelectorAll(".tab"), function (tab) {
      tab.addEventListener("click", function () {
        range = tab.dataset.range;
        Array.prototype.forEach.call(document.querySelectorAll(".tab"), function (t) {
          t.classList.toggle("active", t === tab);
          t.setAttribute("aria-pressed", String(t === tab));
        });
        if (last) renderChart(last.throughput);
      });
    });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(function () { if (last) renderChart(last.throughput); }, 150);
    });
    Array.prototype.forEach.call(document.querySelectorAll("form.confirm"), function (form) {
      form.addEventListener("submit", function (e) { if (!window.confirm(form.dataset.confirm)) e.preventDefault(); });
    });
    ruleTester(document.getElementById("rule-test"));
    window.setInterval(tick, 1000);
    poll();
  });

  // The rules' test box: as the operator types a made-up SMS, which rules match it and what they would do.
  function ruleTester(form) {
    if (!form) return;
    var list = document.getElementById("rule-verdicts"), timer = null;
    function show(verdicts) {
      clear(list);
      if (!verdicts.length) { list.appendChild(el("li", {class: "muted empty", text: _("No rules yet.")})); return; }
      verdicts.forEach(function (v) {
        var does = [];
        if (v.reply) does.push(_("replies “{text}”", {text: v.reply}));
        if (v.forward_to.length) does.push(_("forwards to {numbers}", {numbers: v.forward_to.join(", ")}));
        if (v.notify.length) does.push(_("notifies {addresses}", {addresses: v.notify.join(", ")}));
        if (v.follow_up) does.push(_("flags it for follow-up"));
        if (v.add_to_group) does.push(_("adds the sender to {group}", {group: v.add_to_group}));
        if (v.remove_from_group) does.push(_("removes the sender from {group}", {group: v.remove_from_group}));
        if (v.stops) does.push(_("stops"));
        var item = el("li", {class: v.matched ? "matched" : "muted"});
        item.appendChild(el("strong", {text: v.name}));
        item.appendChild(document.createTextNode(v.matched ? _(": {actions}", {actions: does.join("; ") || _("matches, does nothing")})
                                                           : _(": no match")));
        list.appendChild(item);
      });
    }
    function run() {
      fetch(form.dataset.action, {method: "POST", body: new FormData(form), credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (j) {
          if (j.verdicts) show(j.verdicts);
          else { clear(list); list.appendChild(el("li", {class: "error", text: j.error ? j.error.message : "?"})); }
        })
        .catch(function () {});
    }
    form.addEventListener("submit", function (e) { e.preventDefault(); run(); });
    form.addEventListener("input", function () { window.clearTimeout(timer); timer = window.setTimeout(run, 250); });
    run();
  }
})();
