"""The HTML report's stylesheet and script, inlined into the page.

Both are constants, never templated: no evidence text ever reaches them, so
the page's Content-Security-Policy can allow exactly these two blocks by
their SHA-256 and nothing else (an escaping slip elsewhere could not run a
script). System fonts only: the page loads nothing from anywhere.
"""

CSS = """\
:root {
  --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; --link: #0969da;
  --ok: #1a7f37; --ok-bg: #dafbe1; --bad: #cf222e; --bad-bg: #ffebe9;
  --warn: #9a6700; --warn-bg: #fff8c5; --miss: #8250df; --miss-bg: #fbefff;
  --stale: #bc4c00; --stale-bg: #fff1e5;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace;
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--fg); background: #fff; line-height: 1.5;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Liberation Sans", Arial, sans-serif; }
.wrap { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
header.top { background: var(--soft); border-bottom: 1px solid var(--line); padding: 20px 0 16px; }
.eyebrow { margin: 0; color: var(--muted); font-size: 13px; letter-spacing: .02em; }
h1 { margin: 2px 0 4px; font-size: 26px; }
h2 { margin: 36px 0 8px; font-size: 20px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { margin: 0; font-size: 17px; }
h4 { margin: 18px 0 6px; font-size: 14px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
h5 { margin: 0 0 4px; font-size: 15px; }
p { margin: 6px 0; }
a { color: var(--link); text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre, .mono { font-family: var(--mono); font-size: 13px; }
code { background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: 0 4px;
  overflow-wrap: anywhere; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; margin: 6px 0;
  white-space: pre-wrap; overflow-wrap: anywhere; max-height: 24em; overflow: auto; }
.sub { margin: 0; color: var(--muted); font-size: 14px; }
.help { color: var(--muted); font-size: 14px; max-width: 60em; }
.verdict { margin: 20px 0 0; padding: 14px 18px; border-radius: 8px; border: 1px solid; font-size: 17px; }
.verdict strong { display: block; font-size: 19px; }
.verdict p { font-size: 14px; margin: 4px 0 0; }
.verdict.good { background: var(--ok-bg); border-color: var(--ok); }
.verdict.warn { background: var(--stale-bg); border-color: var(--stale); }
.verdict.bad { background: var(--bad-bg); border-color: var(--bad); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(128px, 1fr)); gap: 10px; margin: 16px 0 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; background: #fff; text-align: left;
  font: inherit; color: inherit; }
.card .n { display: block; font-size: 24px; font-weight: 600; line-height: 1.2; }
.card .l { display: block; font-size: 13px; color: var(--muted); }
button.card { cursor: pointer; }
button.card:hover, button.card:focus-visible { border-color: var(--link); outline: none;
  box-shadow: 0 0 0 2px #0969da33; }
button.card[aria-pressed="true"] { border-color: var(--link); box-shadow: 0 0 0 2px var(--link); }
.card.s-discharged .n { color: var(--ok); } .card.s-failed .n { color: var(--bad); }
.card.s-incomplete .n { color: var(--warn); } .card.s-missing .n { color: var(--miss); }
.card.s-vacuous .n { color: var(--bad); }
.filters { display: flex; flex-wrap: wrap; gap: 10px 16px; align-items: end; margin: 12px 0; padding: 10px 12px;
  background: var(--soft); border: 1px solid var(--line); border-radius: 8px; font-size: 14px; }
.filters label { display: flex; flex-direction: column; gap: 2px; color: var(--muted); }
.filters label.check { flex-direction: row; align-items: center; gap: 6px; color: var(--fg); padding-bottom: 4px; }
.filters select, .filters input[type=search], .filters button { font: inherit; color: var(--fg); padding: 4px 6px;
  border: 1px solid var(--line); border-radius: 6px; background: #fff; }
.filters input[type=search] { min-width: 16em; }
.filters button { cursor: pointer; }
.filters output { margin-left: auto; color: var(--muted); padding-bottom: 4px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px; border-bottom: 1px solid var(--line); }
thead th { background: var(--soft); font-size: 13px; color: var(--muted); font-weight: 600; white-space: nowrap; }
table.gates tbody tr:hover { background: #f6f8fa99; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.gate-id { font-weight: 600; white-space: nowrap; }
.gate-title { display: block; color: var(--muted); font-size: 13px; }
.badge { display: inline-block; white-space: nowrap; border-radius: 999px; padding: 1px 9px; font-size: 13px;
  font-weight: 600; border: 1px solid; }
.b-discharged, .b-passed, .b-valid, .b-killed { color: var(--ok); background: var(--ok-bg); border-color: #1a7f3766; }
.b-failed, .b-error, .b-tampered, .b-inconsistent, .b-vacuous { color: var(--bad); background: var(--bad-bg); border-color: #cf222e66; }
.b-incomplete, .b-survived, .b-unreached, .b-unstable, .b-skipped, .b-xfailed, .b-xpassed, .b-deselected, .b-not_collected, .b-not_run {
  color: var(--warn); background: var(--warn-bg); border-color: #9a670066; }
.b-missing { color: var(--miss); background: var(--miss-bg); border-color: #8250df66; }
.b-stale { color: var(--stale); background: var(--stale-bg); border-color: #bc4c0066; }
.tag { display: inline-block; font-size: 12px; border: 1px solid var(--line); border-radius: 4px; padding: 0 5px;
  color: var(--muted); white-space: nowrap; }
.tag.block { color: var(--fg); border-color: var(--fg); }
.why { color: var(--fg); overflow-wrap: anywhere; }
td.why { min-width: 18em; }  /* long test ids wrap, but never a letter per line */
.scroll { overflow-x: auto; }
.reasons { margin: 2px 0 0; padding-left: 18px; font-size: 13px; color: var(--stale); }
article.gate { border: 1px solid var(--line); border-left: 6px solid var(--line); border-radius: 8px;
  padding: 14px 18px; margin: 14px 0; }
article.gate.s-discharged { border-left-color: var(--ok); } article.gate.s-failed { border-left-color: var(--bad); }
article.gate.s-incomplete { border-left-color: var(--warn); } article.gate.s-missing { border-left-color: var(--miss); }
article.gate.s-vacuous { border-left-color: var(--bad); }
.mutants td:first-child { white-space: nowrap; }
article.gate header { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
article.gate:target { box-shadow: 0 0 0 3px #0969da55; }
.kv { width: 100%; }
.kv th { width: 11em; color: var(--muted); font-weight: 500; background: none; white-space: nowrap; }
.block-item { border-top: 1px dashed var(--line); padding: 10px 0 4px; }
.block-item:first-of-type { border-top: 0; }
.cx { border: 1px solid var(--bad); background: var(--bad-bg); border-radius: 6px; padding: 8px 10px; margin: 8px 0; }
.cx pre { background: #fff; }
.stats { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 4px 0; font-size: 13px; color: var(--muted); }
.stats b { color: var(--fg); font-weight: 600; }
.digest { font-family: var(--mono); font-size: 12px; color: var(--muted); overflow-wrap: anywhere; }
.findings li { margin: 4px 0; }
.sev-error { color: var(--bad); font-weight: 600; } .sev-warning { color: var(--warn); font-weight: 600; }
.sev-note { color: var(--muted); font-weight: 600; }
dl.grid { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; font-size: 14px; }
dl.grid dt { color: var(--muted); } dl.grid dd { margin: 0; overflow-wrap: anywhere; }
details > summary { cursor: pointer; color: var(--link); font-size: 13px; }
footer { margin: 40px 0 0; padding: 16px 0 32px; border-top: 1px solid var(--line); color: var(--muted);
  font-size: 13px; }
a.card { display: block; } a.card:hover { text-decoration: none; border-color: var(--link); }
article.run { border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px; margin: 14px 0; }
article.run header { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
article.run:target, tr.violation:target { box-shadow: 0 0 0 3px #0969da55; }
tr.violation:target { background: var(--warn-bg); }
table.runs td:first-child, table.violations td:nth-child(-n+3) { white-space: nowrap; }
table.violations td:nth-child(5), table.violations td:nth-child(6) { min-width: 13em; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 12px; margin: 8px 0; }
figure.chart { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 6px; background: #fff; }
figure.chart figcaption { font-size: 13px; color: var(--muted); padding: 0 4px; }
svg.chart { display: block; width: 100%; height: auto;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", Arial, sans-serif; }
svg.chart .plot { fill: #fff; stroke: var(--line); }
svg.chart .grid line { stroke: #eaeef2; stroke-width: 1; }
svg.chart .tick { font-size: 11px; fill: var(--muted); }
svg.chart .axis-label { font-size: 12px; fill: var(--fg); }
svg.chart .band { fill: #0969da2e; stroke: none; }
svg.chart .line { fill: none; stroke: #0969da; stroke-width: 1.6; stroke-linejoin: round; }
svg.chart .expected { fill: none; stroke: #bc4c00; stroke-width: 2; stroke-dasharray: 6 4; }
svg.chart .marker line { stroke: var(--bad); stroke-width: 1.2; stroke-dasharray: 3 3; }
svg.chart .marker circle { fill: var(--bad); stroke: #fff; stroke-width: 1.5; }
svg.chart a.marker:hover circle, svg.chart a.marker:focus circle { stroke: var(--bad); stroke-width: 3; }
svg.chart .nonfinite { fill: var(--warn); }
svg.chart .legend text { font-size: 11.5px; fill: var(--fg); }
@media print {
  .filters { display: none !important; }  /* paper shows every gate, whatever was filtered */
  [hidden].gate-row, article.gate[hidden] { display: revert !important; }
  article.gate { break-inside: avoid; }
  pre { max-height: none; }
}
"""

JS = """\
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var status = $("filter-status"), contract = $("filter-contract"), verdict = $("filter-verdict");
  var blocking = $("filter-blocking"), text = $("filter-text"), count = $("filter-count");
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.gate-row"));
  var cards = Array.prototype.slice.call(document.querySelectorAll("button[data-status]"));
  if (!status || !rows.length) { return; }

  function apply() {
    var s = status.value, c = contract.value, v = verdict.value, b = blocking.checked;
    var q = text.value.trim().toLowerCase(), shown = 0;
    rows.forEach(function (row) {
      var d = row.dataset;
      var ok = (!s || d.status === s) && (!c || d.contract === c) && (!v || d.verdict === v) &&
               (!b || d.blocking === "yes") && (!q || d.search.indexOf(q) !== -1);
      row.hidden = !ok;
      var detail = $(d.detail);
      if (detail) { detail.hidden = !ok; }
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + rows.length + " gates shown";
    $("no-match").hidden = shown !== 0;
    cards.forEach(function (card) { card.setAttribute("aria-pressed", String(card.dataset.status === s)); });
    var state = [];
    if (s) { state.push("status=" + encodeURIComponent(s)); }
    if (c) { state.push("contract=" + encodeURIComponent(c)); }
    if (v) { state.push("evidence=" + encodeURIComponent(v)); }
    if (b) { state.push("blocking=yes"); }
    try {  // a shareable link to this view; file: URLs may refuse, which only costs the link
      if (state.length || location.hash.indexOf("=") !== -1) {
        history.replaceState(null, "", state.length ? "#" + state.join("&") : location.pathname + location.search);
      }
    } catch (e) { /* ignore */ }
  }

  function choose(select, value) {
    for (var i = 0; i < select.options.length; i += 1) {
      if (select.options[i].value === value) { select.value = value; return; }
    }
  }

  function fromHash() {
    var hash = location.hash.slice(1);
    if (hash.indexOf("=") === -1) { return; }  // a plain #gate-... anchor, not a filter
    hash.split("&").forEach(function (pair) {
      var kv = pair.split("="), key = kv[0], value = decodeURIComponent(kv[1] || "");
      if (key === "status") { choose(status, value); }
      if (key === "contract") { choose(contract, value); }
      if (key === "evidence") { choose(verdict, value); }
      if (key === "blocking") { blocking.checked = value === "yes"; }
    });
  }

  [status, contract, verdict, blocking].forEach(function (el) { el.addEventListener("change", apply); });
  text.addEventListener("input", apply);
  $("filter-reset").addEventListener("click", function () {
    status.value = ""; contract.value = ""; verdict.value = ""; blocking.checked = false; text.value = "";
    apply();
  });
  cards.forEach(function (card) {
    card.addEventListener("click", function () {
      status.value = status.value === card.dataset.status ? "" : card.dataset.status;
      apply();
      $("gates").scrollIntoView();
    });
  });
  $("filters").hidden = false;
  document.documentElement.classList.add("js");
  fromHash();
  apply();
})();
"""
