/* fireline console: progressive enhancement only. Every page works without this file.
 * - the incident list refreshes its rows from the server (already escaped HTML) every few seconds;
 * - Mermaid charts are drawn from their <pre class="mermaid"> source when the vendored script is there.
 * No inline handlers, no eval: the page's Content-Security-Policy allows scripts from 'self' only. */
(function () {
  "use strict";

  function refreshRows(body) {
    var url = body.getAttribute("data-refresh-url");
    var every = parseInt(body.getAttribute("data-refresh-ms"), 10) || 5000;
    var status = document.querySelector("[data-refresh-status]");
    var matched = document.getElementById("matched");
    var busy = false;

    function tick() {
      if (busy || document.hidden) { return; }
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" }, cache: "no-store" })
        .then(function (response) {
          if (response.status === 401) { window.location.reload(); return null; }
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          var count = response.headers.get("x-fireline-matched");
          if (matched && count !== null) { matched.textContent = count; }
          return response.text();
        })
        .then(function (html) {
          if (html === null) { return; }
          var doc = new DOMParser().parseFromString("<table><tbody>" + html + "</tbody></table>", "text/html");
          var fresh = doc.querySelector("tbody");
          if (fresh) { body.replaceChildren.apply(body, Array.prototype.slice.call(fresh.childNodes)); }
          if (status) { status.textContent = "updated " + new Date().toLocaleTimeString(); }
        })
        .catch(function (err) {
          if (status) { status.textContent = "refresh failed (" + err.message + "); retrying"; }
        })
        .then(function () { busy = false; });
    }

    window.setInterval(tick, every);
  }

  function drawGraphs() {
    var charts = document.querySelectorAll("pre.mermaid");
    if (!charts.length || !window.mermaid) { return; }
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral" });
    window.mermaid.run({ nodes: charts }).then(function () {
      document.body.setAttribute("data-graphs", "drawn");
    }, function (err) {
      document.body.setAttribute("data-graphs", "failed");
      if (window.console) { window.console.warn("mermaid could not draw a chart", err); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var rows = document.querySelector("tbody[data-refresh-url]");
    if (rows) { refreshRows(rows); }
    drawGraphs();
  });
})();
