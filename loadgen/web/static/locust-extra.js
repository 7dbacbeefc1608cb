// inferload's additions to Locust's web UI (injected into Locust's index page):
// a strip above Locust's header with the scenario's current phase, target and achieved rate and
// a link to the inferload page; Locust's user-count controls ("Edit", "Users") are hidden:
// the scenario decides the load, never Locust's user count.
(function () {
  "use strict";
  var POLL_MS = 2000;
  var bar = document.createElement("div");
  bar.id = "inferload-bar";
  bar.setAttribute("style", "display:flex;flex-wrap:wrap;gap:14px;align-items:center;padding:6px 16px;" +
    "background:#18202f;color:#fff;font:14px/1.4 system-ui,sans-serif");
  document.body.insertBefore(bar, document.body.firstChild);

  function fmt(v, digits) { return v === null || v === undefined ? "-" : v.toFixed(digits); }
  function span(text, key, value, strong) {
    var s = document.createElement(strong ? "b" : "span");
    s.textContent = text;
    if (key) { s.setAttribute("data-k", key); s.setAttribute("data-v", JSON.stringify(value === undefined ? null : value)); }
    return s;
  }

  function show(d) {
    var n = d.now, kids = [span("inferload", null, null, true)];
    kids.push(span(n.phase ? "phase " + n.phase + " (" + n.loop + " loop, " + n.process + ")" : "status " + n.status, "phase", n.phase));
    if (n.loop === "closed") kids.push(span("users " + n.closed_loop_users, "closed_loop_users", n.closed_loop_users));
    else kids.push(span("target " + fmt(n.target_rps, 2) + " req/s", "target_rps", n.target_rps));
    kids.push(span("achieved " + fmt(n.interval_achieved_rps, 2) + " req/s", "interval_achieved_rps", n.interval_achieved_rps));
    var ttft = d.overall && d.overall.latency && d.overall.latency.ttft ? d.overall.latency.ttft.p99_ms : null;
    kids.push(span("p99 TTFT (judged phases) " + fmt(ttft, 1) + " ms", "ttft_p99_ms", ttft));
    var a = document.createElement("a");
    a.href = "./inferload/";
    a.textContent = "inferload live view \u2192";
    a.setAttribute("style", "color:#cfe0ff;margin-left:auto;font-weight:600");
    kids.push(a);
    bar.replaceChildren.apply(bar, kids);
  }

  // hide Locust's user-count controls (React re-renders them: watch the DOM)
  function hideUserControls() {
    document.querySelectorAll("#root button").forEach(function (b) {
      if (b.textContent.trim() === "Edit" && b.style.display !== "none") {
        b.style.display = "none";
        b.setAttribute("data-inferload-hidden", "edit");
      }
    });
    document.querySelectorAll("#root p, #root h6, #root span").forEach(function (e) {
      if (e.textContent.trim() === "Users" && e.children.length === 0) {
        var block = e.parentElement;
        if (block && block.style.display !== "none" && block.children.length === 2) {
          block.style.display = "none";
          block.setAttribute("data-inferload-hidden", "users");
          var sep = block.previousElementSibling;
          if (sep && sep.tagName === "HR") sep.style.display = "none";
        }
      }
    });
  }
  new MutationObserver(hideUserControls).observe(document.getElementById("root") || document.body, { childList: true, subtree: true });
  hideUserControls();

  function poll() {
    fetch("./inferload/api/live.json", { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (d) {
        try { show(d); } catch (e) { console.error("inferload: header strip failed", e); }
      }, function () { bar.textContent = "inferload: run ended or server unreachable"; })
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  poll();
})();
