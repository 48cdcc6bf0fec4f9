"""One page across stores: a requirement x store matrix from any number of reports.

Contract: :func:`html` and :func:`markdown` render the same content from a list of
:class:`~conformance.report_loader.StoreRun`: a column per run (store name and version from its
handshake, selection, profile, run date, counts), a row per SPEC.md requirement (plus any id a
report has that this SPEC lacks), each cell passed / failed / skipped (reason) / inconclusive /
not run, and every failed or inconclusive cell linked to its tests and their messages.  The HTML
page is self-contained (inline CSS and JS, no network).
"""

from __future__ import annotations

import html as _html
import re
from datetime import datetime, timezone

from conformance.reports.loader import Cell, StoreRun
from conformance.api.requirements import Requirement

#: Cells that link to their tests.
LINKED = ("failed", "inconclusive", "expected_failure")
_WORDS = {"expected_failure": "known bug (ledger)", "not_run": "not run"}


def rows(runs: list[StoreRun], known: dict[str, Requirement]) -> list[str]:
    """Requirement ids in SPEC order, then any a report names that this SPEC does not."""
    extra = sorted({rid for run in runs for rid in run.cells} - set(known))
    return list(known) + extra


def column_labels(runs: list[StoreRun]) -> list[str]:
    """Each run's label, made unique by its run date (or position) when two runs share one."""
    labels = [run.label for run in runs]
    out = []
    for index, (run, label) in enumerate(zip(runs, labels)):
        if labels.count(label) > 1:
            label += f" ({_date(run.started) or f'#{index + 1}'})"
        out.append(label)
    return out


def anchor(column: int, rid: str) -> str:
    return f"c{column}-{rid}"


def cell_of(run: StoreRun, rid: str) -> Cell:
    return run.cells.get(rid, Cell("not_run"))


def _summary(known: dict[str, Requirement], rid: str) -> str:
    requirement = known.get(rid)
    if requirement is None:
        return "not in this version's SPEC.md"
    text = " ".join(requirement.text.split())
    sentence = re.split(r"(?<=[.:])\s", text, maxsplit=1)[0]
    return sentence if len(sentence) <= 140 else sentence[:137] + "..."


def _generated() -> str:
    return _date(datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _date(stamp: str) -> str:
    """``2026-12-01 09:30 UTC`` from an ISO 8601 time (as given when it does not parse)."""
    try:
        return datetime.fromisoformat(stamp).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return stamp


# ---- HTML ------------------------------------------------------------------------------------

_CSS = """
:root { --ok:#2f8f4e; --fail:#c8473b; --skip:#8a94a6; --inc:#c98a0b; --known:#7a4fc2; --line:#dde1e7;
        font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color:#1d2330; }
body { margin: 0; padding: 14px 20px 40px; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 26px 0 8px; }
.muted { color:#667085; font-size: 13px; }
table.matrix { border-collapse: separate; border-spacing: 0; font-size: 13px; margin-top: 10px; }
.matrix th, .matrix td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
.matrix thead th { position: sticky; top: 0; background: #fff; z-index: 1; border-bottom: 2px solid #b9c0cb;
        min-width: 150px; max-width: 240px; font-weight: 600; }
.matrix thead th .muted { font-weight: 400; display: block; font-size: 12px; word-break: break-all; }
.matrix td.req { white-space: nowrap; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.matrix td.text { color:#4b5363; max-width: 420px; font-size: 12px; }
.matrix tr.group td { background:#f3f5f8; font-weight: 600; font-size: 12px; color:#4b5363; }
.cell { border-radius: 4px; font-weight: 600; white-space: nowrap; }
.cell.passed { color: var(--ok); } .cell.failed { background:#fbe4e1; color: var(--fail); }
.cell.inconclusive { background:#fff1d1; color: var(--inc); } .cell.expected_failure { background:#efe8fb; color: var(--known); }
.cell.skipped, .cell.not_run { color: var(--skip); font-weight: 400; }
.cell .why { display: block; font-weight: 400; font-size: 11px; white-space: normal; color:#6b7280; max-width: 230px; }
.cell a { color: inherit; }
.counts span { margin-right: 6px; }
.failure { border-left: 4px solid var(--fail); padding: 2px 12px; margin: 12px 0; }
.failure.inconclusive { border-color: var(--inc); } .failure.expected_failure { border-color: var(--known); }
.failure h3 { font-size: 14px; margin: 4px 0; }
.failure pre { background:#f5f6f8; padding: 6px 8px; font-size: 12px; white-space: pre-wrap; word-break: break-word; margin: 4px 0 10px; }
.failure:target { background:#fff8e6; }
.controls { margin: 8px 0; font-size: 13px; }
"""

_JS = """
(function () {
  "use strict";
  var box = document.getElementById("only-differences");
  function apply() {
    var rows = document.querySelectorAll("tbody tr"), group = null, shown = 0;
    function close() { if (group) group.style.display = shown ? "" : "none"; }
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].className === "group") { close(); group = rows[i]; shown = 0; continue; }
      var hide = box.checked && rows[i].getAttribute("data-uniform") === "1";
      rows[i].style.display = hide ? "none" : "";
      if (!hide) shown++;
    }
    close();
  }
  if (location.hash === "#differences") box.checked = true;  // a link (or screenshot) of the short view
  box.addEventListener("change", apply);
  apply();
  document.documentElement.setAttribute("data-rendered", "1");
})();
"""

_ERRORS = """window.addEventListener("error", function (event) { var root = document.documentElement;
  root.setAttribute("data-js-errors", (root.getAttribute("data-js-errors") || "") + (event.message || "error") + "; "); });"""


def html(runs: list[StoreRun], known: dict[str, Requirement]) -> str:
    """The self-contained HTML page."""
    e = _html.escape
    labels = column_labels(runs)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>rollout-conformance: requirements across stores</title>",
           f"<script>{_ERRORS}</script><style>{_CSS}</style></head><body>",
           "<h1>Requirements across stores</h1>",
           f'<div class="muted">{len(runs)} report(s), {len(known)} requirements of SPEC.md; page written '
           f"{e(_generated())} by <code>rollout-conformance report</code>. Status of a requirement: the worst "
           "outcome of its tests (failed &gt; inconclusive &gt; known bug &gt; passed &gt; skipped).</div>"]
    for run in runs:
        if run.note:
            out.append(f'<div class="muted">{e(run.source)}: {e(run.note)}</div>')
    out.append('<div class="controls"><label><input type="checkbox" id="only-differences"> only requirements '
               "where some store did not pass</label></div>")
    out.append('<table class="matrix"><thead><tr><th>requirement</th><th>says</th>')
    for index, (run, label) in enumerate(zip(runs, labels)):
        counts = run.counts()
        summary = " ".join(f"{counts[s]} {_WORDS.get(s, s)}" for s in
                           ("passed", "failed", "inconclusive", "expected_failure", "skipped", "not_run") if counts.get(s))
        out.append(f'<th data-column="{index}">{e(label)}<span class="muted"><code>{e(run.selection)}</code></span>'
                   f'<span class="muted">{e(run.kind)}, profile {e(run.profile)}'
                   f'{", seed " + str(run.seed) if run.seed is not None else ""}'
                   f'{", run " + e(_date(run.started)) if run.started else ""}</span>'
                   f'<span class="muted counts">{e(summary)}</span></th>')
    out.append("</tr></thead><tbody>")
    group = None
    for rid in rows(runs, known):
        prefix = rid.split("-")[0]
        if prefix != group:
            group = prefix
            out.append(f'<tr class="group"><td colspan="{2 + len(runs)}">{e(prefix)}</td></tr>')
        cells = [cell_of(run, rid) for run in runs]
        uniform = all(c.status in ("passed", "skipped", "not_run") for c in cells)
        requirement = known.get(rid)
        level = " · ".join(["", requirement.level, requirement.capability] + [requirement.scheme] * bool(
            requirement.scheme)) if requirement else ""
        out.append(f'<tr data-requirement="{e(rid)}" data-uniform="{int(uniform)}"><td class="req">{e(rid)}'
                   f'<span class="muted">{e(level)}</span></td><td class="text">{e(_summary(known, rid))}</td>')
        for index, cell in enumerate(cells):
            out.append(_html_cell(index, rid, cell))
        out.append("</tr>")
    out.append("</tbody></table>")
    out.append("<h2>Failed and inconclusive requirements, by store</h2>")
    listed = 0
    for index, (run, label) in enumerate(zip(runs, labels)):
        for rid in rows(runs, known):
            cell = cell_of(run, rid)
            if cell.status not in LINKED:
                continue
            listed += 1
            out.append(f'<div class="failure {cell.status}" id="{anchor(index, rid)}"><h3>{e(rid)} · {e(label)}: '
                       f"{e(_WORDS.get(cell.status, cell.status))}</h3>")
            for test in cell.deciding():
                out.append(f"<div><code>{e(test.nodeid)}</code></div><pre>{e(test.detail or '(no message)')}</pre>")
            out.append("</div>")
    if not listed:
        out.append('<div class="muted">none: every requirement passed or was skipped in every report.</div>')
    out.append("<h2>Reports</h2><ul>")
    for run, label in zip(runs, labels):
        out.append(f"<li>{e(label)}: <code>{e(run.source)}</code> ({e(run.kind)}, selection <code>{e(run.selection)}"
                   f"</code>, started {e(_date(run.started) or 'unknown')}, finished {e(_date(run.finished) or 'unknown')}"
                   f"{', capabilities ' + e(', '.join(run.capabilities)) if run.capabilities else ''}"
                   f"{', coordination ' + e(', '.join(run.coordination)) if run.coordination else ''})</li>")
    out.append(f"</ul><script>{_JS}</script></body></html>")
    return "\n".join(out) + "\n"


def _html_cell(column: int, rid: str, cell: Cell) -> str:
    e = _html.escape
    word = _WORDS.get(cell.status, cell.status)
    deciding = cell.deciding()
    if cell.status in LINKED:
        body = f'<a href="#{anchor(column, rid)}">{e(word)} {len(deciding)}/{len(cell.tests)}</a>'
        first = cell.reasons()[:1]
        if first:
            body += f'<span class="why">{e(first[0][:120])}</span>'
    elif cell.status == "skipped":
        body = e(word) + "".join(f'<span class="why">{e(r[:120])}</span>' for r in cell.reasons()[:2])
    elif cell.status == "passed":
        body = f"{e(word)} {len(cell.tests)}/{len(cell.tests)}" if cell.tests else e(word)
    else:
        body = e(word)
    return f'<td class="cell {e(cell.status)}" data-status="{e(cell.status)}">{body}</td>'


# ---- Markdown --------------------------------------------------------------------------------

def markdown(runs: list[StoreRun], known: dict[str, Requirement]) -> str:
    """The same matrix as a Markdown table, failures listed below it with anchors."""
    labels = column_labels(runs)
    out = ["# Requirements across stores", "",
           f"{len(runs)} report(s), {len(known)} requirements of SPEC.md; written {_generated()} by "
           "`rollout-conformance report`.", ""]
    for run, label in zip(runs, labels):
        counts = ", ".join(f"{n} {_WORDS.get(s, s)}" for s, n in sorted(run.counts().items()))
        seed = f", seed {run.seed}" if run.seed is not None else ""
        out.append(f"- **{_md(label)}**: `{_md(run.selection)}`, {run.kind}, profile {run.profile}{seed}, started "
                   f"{_date(run.started) or 'unknown'} ({counts}){' - ' + _md(run.note) if run.note else ''}")
    out += ["", "| requirement | " + " | ".join(_md(label) for label in labels) + " |",
            "|---|" + "---|" * len(runs)]
    for rid in rows(runs, known):
        cells = []
        for index, run in enumerate(runs):
            cell = cell_of(run, rid)
            word = _WORDS.get(cell.status, cell.status)
            if cell.status in LINKED:
                cells.append(f"**[{word}](#{anchor(index, rid).lower()})**")
            elif cell.status == "skipped" and cell.reasons():
                cells.append(f"skipped ({_md(cell.reasons()[0][:80])})")
            else:
                cells.append(word)
        out.append(f"| {rid} | " + " | ".join(cells) + " |")
    out += ["", "## Failed and inconclusive requirements", ""]
    for index, (run, label) in enumerate(zip(runs, labels)):
        for rid in rows(runs, known):
            cell = cell_of(run, rid)
            if cell.status not in LINKED:
                continue
            out += [f'<a id="{anchor(index, rid).lower()}"></a>', f"### {rid} · {_md(label)}: "
                    f"{_WORDS.get(cell.status, cell.status)}", ""]
            for test in cell.deciding():
                out += [f"- `{test.nodeid}`", "", "  ```", *(f"  {line}" for line in
                        (test.detail or "(no message)").splitlines()), "  ```", ""]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
