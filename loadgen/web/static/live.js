// inferload live view: polls api/live.json every 2 s and renders it.  No dependencies, no
// network access beyond this server.  Every number shown carries data-k (its JSON path),
// data-v (the JSON value it was rendered from) and data-f (its format), so tests can check the
// page against the payload it fetched.
(function () {
  "use strict";
  var POLL_MS = 2000;
  var SVGNS = "http://www.w3.org/2000/svg";
  var PCTS = [["p50", "p50_ms"], ["p90", "p90_ms"], ["p95", "p95_ms"], ["p99", "p99_ms"], ["p99.9", "p99_9_ms"]];
  var BAND = { warmup: "#eef0f4", cooldown: "#eef0f4", steady: "#e6eefc", burst: "#fdeedb", spike: "#fdeedb", peak: "#fdeedb" };
  var renders = 0;

  function fmt(f, v) {
    if (v === null || v === undefined || (typeof v === "number" && !isFinite(v))) return "-";
    switch (f) {
      case "ms": return v.toFixed(1);
      case "int": return String(Math.round(v));
      case "rps": return v.toFixed(2);
      case "pct": return (v * 100).toFixed(2) + " %";
      case "cpu": return v.toFixed(0) + " %";
      case "s": return v.toFixed(0) + " s";
      default: return String(v);
    }
  }

  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    (kids || []).forEach(function (c) { e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }

  function get(obj, path) {
    var o = obj;
    for (var i = 0; i < path.length; i++) { if (o === null || o === undefined) return null; o = o[path[i]]; }
    return o === undefined ? null : o;
  }

  // one number: its text, and where it came from
  function num(d, path, f, tag) {
    var v = get(d, path);
    var e = el(tag || "span", { "data-k": JSON.stringify(path), "data-v": JSON.stringify(v), "data-f": f });
    e.textContent = fmt(f, v);
    return e;
  }

  function txt(id, s) { var e = document.getElementById(id); if (e) e.textContent = s; }
  function put(id, kids) { var e = document.getElementById(id); e.replaceChildren.apply(e, kids); }

  function header(d) {
    var now = d.now;
    txt("scenario", d.operating_point.scenario);
    txt("run-id", d.run_id + " · " + d.mode + " · " + d.operating_point.workers + " worker(s)");
    var st = document.getElementById("status");
    st.textContent = now.status;
    st.className = "pill " + now.status;
    var ph = document.getElementById("phase");
    ph.textContent = now.phase ? now.phase + " · " + now.loop + " loop · " + now.process : "no phase";
    put("elapsed", [num(d, ["now", "elapsed_s"], "s")]);
    put("remaining", [num(d, ["now", "remaining_s"], "s")]);
  }

  function kpis(d) {
    var closed = d.now.loop === "closed";
    var items = [
      [closed ? "closed-loop users" : "target req/s (phase)", closed ? ["now", "closed_loop_users"] : ["now", "target_rps"], closed ? "int" : "rps"],
      ["target req/s (last interval)", ["now", "interval_target_rps"], "rps"],
      ["achieved req/s (last interval)", ["now", "interval_achieved_rps"], "rps"],
      ["requests", ["now", "requests"], "int"],
      ["errors", ["now", "errors"], "int"],
      ["dropped (max_inflight)", ["now", "dropped"], "int"],
      ["in flight", ["now", "inflight"], "int"],
      ["workers", ["now", "workers"], "int"]
    ];
    put("kpis", items.map(function (it) {
      return el("div", { "class": "kpi" }, [num(d, it[1], it[2], "div"), el("div", { "class": "l" }, [it[0]])]);
    }));
    document.querySelectorAll("#kpis .kpi > div:first-child").forEach(function (e) { e.classList.add("v"); });
  }

  function slo(d) {
    txt("slo-mode", d.slo.mode === "rolling"
      ? "(rolling window, judged phases: " + d.slo.judged_phases.join(", ") + ")"
      : "(run so far over the judged phases: " + (d.slo.judged_phases.join(", ") || "none yet") + ")");
    if (!d.slo.tiles.length) { put("slo", [el("div", { "class": "muted" }, ["no SLO declared in the scenario"])]); return; }
    put("slo", d.slo.tiles.map(function (t, i) {
      var f = t.unit === "ms" ? "ms" : "pct";
      var base = ["slo", "tiles", i];
      var detail = [el("span", {}, ["threshold "]), num(d, base.concat(["threshold"]), f), el("span", {}, [t.unit === "ms" ? " ms" : ""])];
      if (t.window) detail.push(el("span", {}, [" · window " + t.window + (t.phase ? " in " + t.phase : "")]));
      if (t.burn_rate !== undefined && t.burn_rate !== null) { detail.push(el("span", {}, [" · burn "])); detail.push(num(d, base.concat(["burn_rate"]), "rps")); }
      if (t.samples !== undefined && t.samples !== null) { detail.push(el("span", {}, [" · n "])); detail.push(num(d, base.concat(["samples"]), "int")); }
      var state = t.state === "no_data" ? (t.note ? "too few requests" : "no data") : (t.open_violation ? "violation open" : t.state);
      return el("div", { "class": "tile " + t.state, "data-objective": t.id }, [
        el("span", { "class": "state" }, [state]),
        el("div", { "class": "name" }, [t.label]),
        el("div", { "class": "v" }, [num(d, base.concat(["value"]), f), t.unit === "ms" ? " ms" : ""]),
        el("div", { "class": "d" }, detail)
      ]);
    }));
  }

  // ---- charts ------------------------------------------------------------------------------
  function svg(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function niceStep(raw) {
    if (!(raw > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  function chart(id, legendId, d, series) {
    var root = document.getElementById(id);
    var W = 640, H = 230, L = 52, R = 12, T = 16, B = 24;
    var pts = d.series.points;
    var xMax = Math.max(d.operating_point.plan_duration_s, pts.length ? pts[pts.length - 1].t : 0, 1);
    var yMax = 0;
    series.forEach(function (s) { pts.forEach(function (p) { var v = p[s.key]; if (v !== null && v > yMax) yMax = v; }); });
    var yStep = niceStep((yMax || 1) * 1.1 / 4);
    yMax = yStep * 4;
    var X = function (x) { return L + x / xMax * (W - L - R); };
    var Y = function (y) { return H - B - y / yMax * (H - T - B); };
    var kids = [];
    d.operating_point.phases.forEach(function (ph) {
      var x0 = X(ph.start_s), x1 = X(Math.min(ph.end_s, xMax));
      kids.push(svg("rect", { x: x0, y: T, width: Math.max(0, x1 - x0), height: H - T - B, fill: BAND[ph.kind] || "#eef6ee" }));
      var lab = svg("text", { x: x0 + 4, y: T + 11, "class": "band-label" });
      lab.textContent = ph.name;
      kids.push(lab);
    });
    for (var i = 0; i <= 4; i++) {
      var y = Y(i * yStep);
      kids.push(svg("line", { x1: L, x2: W - R, y1: y, y2: y, "class": i ? "grid" : "axis" }));
      var t = svg("text", { x: L - 6, y: y + 4, "text-anchor": "end" });
      t.textContent = fmtTick(i * yStep);
      kids.push(t);
    }
    var xStep = niceStep(xMax / 6);
    for (var x = 0; x <= xMax + 1e-9; x += xStep) {
      var tx = svg("text", { x: X(x), y: H - 6, "text-anchor": "middle" });
      tx.textContent = x + " s";
      kids.push(tx);
    }
    pts.forEach(function (p) {
      if (p.invalid) kids.push(svg("rect", { x: X(p.t - p.dt), y: H - B - 3, width: Math.max(1, X(p.t) - X(p.t - p.dt)), height: 3, fill: "#b42318" }));
    });
    series.forEach(function (s) {
      var dstr = "", pen = false;
      pts.forEach(function (p) {
        var v = p[s.key];
        if (v === null || v === undefined) { pen = false; return; }
        dstr += (pen ? " L" : " M") + X(p.t - p.dt / 2).toFixed(1) + " " + Y(v).toFixed(1);
        pen = true;
      });
      if (dstr) kids.push(svg("path", { d: dstr, fill: "none", stroke: s.color, "stroke-width": s.width || 2, "stroke-dasharray": s.dash || "none", "data-series": s.key }));
    });
    root.replaceChildren.apply(root, kids);
    var legend = series.map(function (s) {
      return el("span", {}, [el("i", { style: "background:" + s.color }), s.label]);
    });
    legend.push(el("span", {}, [el("i", { style: "background:#b42318" }), "invalid interval (generator-bound)"]));
    put(legendId, legend);
  }
  function fmtTick(v) { return v >= 100 ? v.toFixed(0) : v >= 1 ? String(+v.toFixed(1)) : String(+v.toPrecision(2)); }

  // ---- tables --------------------------------------------------------------------------------
  function phases(d) {
    var head = el("tr", {}, [el("th", {}, ["phase"]), el("th", {}, ["metric"]), el("th", {}, ["count"])]
      .concat(PCTS.map(function (p) { return el("th", {}, [p[0]]); }))
      .concat([el("th", {}, ["mean"]), el("th", {}, ["requests"]), el("th", {}, ["errors"]), el("th", {}, ["error rate"])]));
    var rows = [head];
    var blocks = Object.keys(d.phases).map(function (n) { return [n, ["phases", n]]; });
    blocks.push(["overall (judged)", ["overall"]]);
    blocks.forEach(function (b) {
      var block = get(d, b[1]);
      Object.keys(block.latency).forEach(function (m, i) {
        var lp = b[1].concat(["latency", m]);
        var tds = [el("td", { "class": i ? "" : "phase-name" }, [i ? "" : b[0]]), el("td", {}, [m]), num(d, lp.concat(["count"]), "int", "td")];
        PCTS.forEach(function (p) { tds.push(num(d, lp.concat([p[1]]), "ms", "td")); });
        tds.push(num(d, lp.concat(["mean_ms"]), "ms", "td"));
        if (i === 0) {
          tds.push(num(d, b[1].concat(["requests"]), "int", "td"));
          tds.push(num(d, b[1].concat(["errors"]), "int", "td"));
          tds.push(num(d, b[1].concat(["error_rate"]), "pct", "td"));
        } else { tds.push(el("td"), el("td"), el("td")); }
        rows.push(el("tr", { "class": i ? "" : "phase-first", "data-phase": b[0], "data-metric": m }, tds));
      });
    });
    put("phases", rows);
  }

  function dl(pairs) {
    var kids = [];
    pairs.forEach(function (p) { kids.push(el("dt", {}, [p[0]])); kids.push(el("dd", {}, p[1])); });
    return el("dl", {}, kids);
  }

  function op(d) {
    var o = d.operating_point;
    var rows = el("table", {}, [el("tr", {}, ["phase", "kind", "loop", "process", "from", "to", "judged"].map(function (h) { return el("th", {}, [h]); }))]
      .concat(o.phases.map(function (p) {
        return el("tr", {}, [p.name, p.kind, p.loop, p.process, p.start_s + " s", p.end_s + " s", p.judged ? "yes" : "no"].map(function (c) { return el("td", {}, [String(c)]); }));
      })));
    put("op", [dl([
      ["target", [o.target]], ["model", [String(o.model || "?")]], ["API", [o.api + (o.stream ? " (streaming)" : "")]],
      ["prompt tokens", [o.prompt_tokens]], ["output tokens", [o.output_tokens]],
      ["max in flight", [String(o.max_inflight === null ? "-" : o.max_inflight)]], ["workers", [String(o.workers)]]
    ]), rows]);
  }

  function server(d) {
    var s = d.server;
    if (!s) { put("server", [el("div", { "class": "muted" }, ["no server scrape: the target has no Prometheus /metrics (or none yet)"])]); return; }
    var comps = Object.keys(s.components);
    var rows = [el("tr", {}, ["model side (server)", "mean", "p50", "p99"].map(function (h) { return el("th", {}, [h]); }))];
    comps.forEach(function (c) {
      var p = ["server", "components", c];
      rows.push(el("tr", {}, [el("td", {}, [c]), num(d, p.concat(["mean_ms"]), "ms", "td"), num(d, p.concat(["p50_ms"]), "ms", "td"), num(d, p.concat(["p99_ms"]), "ms", "td")]));
    });
    var kids = [el("div", { "class": "muted" }, [(s.server || "server") + ", last " + s.window_s + " s of scrapes (ms)"]), el("table", {}, rows)];
    if (s.client) {
      var sysRows = [el("tr", {}, [el("th", {}, ["system side (client), last " + fmt("s", s.client.window_s)]), el("th", {}, ["mean"]), el("th", {}, ["requests"]), el("th")]),
        el("tr", {}, [el("td", {}, ["ttft"]), num(d, ["server", "client", "ttft_mean_ms"], "ms", "td"), num(d, ["server", "client", "requests"], "int", "td"), el("td")]),
        el("tr", {}, [el("td", {}, ["e2e"]), num(d, ["server", "client", "e2e_mean_ms"], "ms", "td"), el("td"), el("td")])];
      kids.push(el("table", {}, sysRows));
      var ce = s.client.e2e_mean_ms, se = s.components.e2e ? s.components.e2e.mean_ms : null;
      if (ce !== null && se !== null && se !== undefined) {
        kids.push(el("div", { "class": "muted" }, ["outside the engine \u2248 client e2e mean - server e2e mean = " + fmt("ms", ce - se) + " ms (network, HTTP, streaming; the windows match to a scrape)"]));
      }
    }
    var g = s.gauges || {};
    if (Object.keys(g).length) {
      kids.push(dl(Object.keys(g).map(function (k) { return [k, [num(d, ["server", "gauges", k], k === "kv_cache_usage" ? "pct" : "int")]]; })));
    }
    put("server", kids);
  }

  function health(d) {
    var h = d.health;
    var cpu = Object.keys(h.cpu_percent).map(function (w) { return [w + " CPU", [num(d, ["health", "cpu_percent", w], "cpu")]]; });
    var lagBad = h.schedule_lag_p99_ms !== null && h.schedule_lag_p99_ms > h.max_schedule_lag_p99_ms;
    var pairs = [
      ["schedule lag p99", [num(d, ["health", "schedule_lag_p99_ms"], "ms", lagBad ? "b" : "span"), " ms (limit ", num(d, ["health", "max_schedule_lag_p99_ms"], "ms"), ")"]],
      ["CPU max seen", [num(d, ["health", "cpu_max_percent"], "cpu"), " (limit ", num(d, ["health", "max_cpu_percent"], "cpu"), ")"]]
    ].concat(cpu).concat([
      ["invalid intervals", [num(d, ["health", "invalid_intervals"], "int"), " of ", num(d, ["health", "intervals"], "int")]],
      ["dropped (max_inflight)", [num(d, ["health", "dropped_max_inflight"], "int")]],
      ["lost workers", [String(h.lost_slots.length)]]
    ]);
    put("health", [dl(pairs)]);
  }

  function render(d) {
    header(d); kpis(d); slo(d);
    chart("chart-latency", "legend-latency", d, [
      { key: "ttft_p99_ms", label: "p99 TTFT", color: "#2f5bd3" },
      { key: "itl_p99_ms", label: "p99 ITL", color: "#c2410c" }
    ]);
    chart("chart-rate", "legend-rate", d, [
      { key: "target_rps", label: "target (plan)", color: "#6b7385", dash: "5 4" },
      { key: "achieved_rps", label: "achieved", color: "#2f5bd3", width: 4 },
      { key: "goodput_rps", label: "goodput (within SLO)", color: "#1a7f4b", width: 1.5 }
    ]);
    phases(d); op(d); server(d); health(d);
    renders += 1;
    document.body.setAttribute("data-as-of", String(d.as_of));
    document.body.setAttribute("data-renders", String(renders));
    txt("updated", "updated " + new Date(d.as_of * 1000).toLocaleTimeString());
  }

  function poll() {
    fetch("api/live.json", { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (d) {
        try { render(d); } catch (e) { console.error("inferload: rendering the live view failed", e); }
      }, function () {  // the run ended (server gone) or a network error: say so, keep trying
        var st = document.getElementById("status"); st.textContent = "disconnected"; st.className = "pill disconnected";
      })
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  poll();
})();
