// Samsa console: theme toggle, charts (uPlot), live tail (server-sent events).
(function () {
  "use strict";
  var root = document.documentElement;
  var saved = null;
  try { saved = localStorage.getItem("samsa-theme"); } catch (e) {}
  if (saved === "dark" || saved === "light") root.setAttribute("data-theme", saved);

  function isDark() {
    var t = root.getAttribute("data-theme");
    if (t) return t === "dark";
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var btn = document.getElementById("theme");
    if (btn) btn.addEventListener("click", function () {
      var next = isDark() ? "light" : "dark";
      root.setAttribute("data-theme", next);
      try { localStorage.setItem("samsa-theme", next); } catch (e) {}
      drawCharts();
    });
    drawCharts();
    setupTail();
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (ev) {
        if (!window.confirm(f.getAttribute("data-confirm"))) ev.preventDefault();
      });
    });
  });

  // ---- charts ----
  var charts = [];
  var timer = null;
  function fmt(v) {
    if (v == null) return "";
    var a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
    return (Math.round(v * 10) / 10).toString();
  }
  function drawCharts() {
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    if (timer) { clearTimeout(timer); timer = null; }
    var els = document.querySelectorAll("[data-chart]");
    if (!els.length || typeof uPlot === "undefined") return;
    els.forEach(function (el) { load(el); });
  }
  function load(el) {
    fetch(el.getAttribute("data-src"), { headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (d) { render(el, d); })
      .catch(function (e) { el.setAttribute("data-error", String(e)); });
  }
  function render(el, d) {
    var kind = el.getAttribute("data-chart");
    var fg = getComputedStyle(root).getPropertyValue("--fg").trim() || "#888";
    var grid = getComputedStyle(root).getPropertyValue("--line").trim() || "#ddd";
    var data, series;
    if (kind === "msgs") {
      data = [d.t, d.produce_msgs, d.consume_msgs];
      series = [{}, { label: "produced msg/s", stroke: "#0b62c4", width: 2 }, { label: "consumed msg/s", stroke: "#e8590c", width: 2 }];
    } else if (kind === "bytes") {
      data = [d.t, d.produce_bytes, d.fetch_bytes];
      series = [{}, { label: "produced B/s", stroke: "#2f9e44", width: 2 }, { label: "fetched B/s", stroke: "#ae3ec9", width: 2 }];
    } else if (kind === "lag") {
      var h = d.history || [];
      data = [h.map(function (p) { return p.t; }), h.map(function (p) { return p.records; }), h.map(function (p) { return p.seconds; })];
      series = [{}, { label: "lag (records)", stroke: "#e03131", width: 2, scale: "r" },
        { label: "lag (s)", stroke: "#1971c2", width: 2, scale: "s" }];
    } else { return; }
    el.setAttribute("data-points", String(data[0].length));
    var box = el.querySelector(".plot") || el;
    box.textContent = "";
    var axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, values: function (u, vs) { return vs.map(fmt); } };
    var axes = [{ stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } }, axis];
    if (kind === "lag") axes.push(Object.assign({}, axis, { scale: "s", side: 1, grid: { show: false } }));
    if (kind === "lag") axes[1] = Object.assign({}, axis, { scale: "r" });
    var opts = { width: Math.max(260, box.clientWidth || el.clientWidth - 16), height: 200, series: series, axes: axes,
      scales: { x: { time: true } }, legend: { live: false } };
    charts.push(new uPlot(opts, data, box));
    if (!timer) timer = setTimeout(function () { timer = null; drawCharts(); }, 10000);
  }
  window.addEventListener("resize", function () {
    clearTimeout(window.__samsaResize);
    window.__samsaResize = setTimeout(drawCharts, 200);
  });

  // ---- live tail ----
  function setupTail() {
    var box = document.getElementById("tail");
    if (!box) return;
    var btn = document.getElementById("tail-toggle");
    var body = document.getElementById("tail-rows");
    var status = document.getElementById("tail-status");
    var src = box.getAttribute("data-src");
    var es = null, next = null, count = 0, max = 200;
    function cell(tr, text, cls) {
      var td = document.createElement("td");
      if (cls) td.className = cls;
      td.textContent = text == null ? "null" : text; // text, never HTML
      tr.appendChild(td);
      return td;
    }
    function start() {
      var url = src + (next != null ? "&from=" + next : "");
      es = new EventSource(url);
      status.textContent = "connecting…";
      btn.textContent = "Pause";
      es.addEventListener("start", function (ev) {
        // The server has read the end offset: from here on every new message is sent.
        status.textContent = "live from offset " + JSON.parse(ev.data).offset;
      });
      es.addEventListener("message", function (ev) {
        var m = JSON.parse(ev.data);
        next = m.offset + 1;
        var tr = document.createElement("tr");
        cell(tr, m.offset, "num");
        cell(tr, m.time);
        cell(tr, m.key);
        var td = cell(tr, "");
        var pre = document.createElement("pre");
        pre.textContent = m.value == null ? "null" : m.value;
        td.appendChild(pre);
        body.insertBefore(tr, body.firstChild); // newest on top
        count++;
        while (body.children.length > max) body.removeChild(body.lastChild);
        status.textContent = "live: " + count + " received";
      });
      es.addEventListener("failure", function (ev) { status.textContent = "error: " + JSON.parse(ev.data).error; });
      es.onerror = function () { status.textContent = "reconnecting…"; };
    }
    function stop() {
      if (es) { es.close(); es = null; }
      status.textContent = "paused after " + count + " messages";
      btn.textContent = "Resume";
    }
    btn.addEventListener("click", function () { if (es) stop(); else start(); });
    if (box.getAttribute("data-autostart") === "1") start();
  }
})();
