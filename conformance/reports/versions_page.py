"""The ``versions`` matrix as one self-contained HTML page.

Contract: :func:`render` turns the data of ``versions --json`` (schema
``conformance/protocol/schemas/versions-report.schema.json``) into a page with one table (a row per
session release, a column per compressor, each cell its verdict coloured by class ``v-<verdict>``,
the why, the hold experiment's outcome, the campaign's result and links to the bundles) and, below
it, each release's probed facts.  Every text is escaped; the page loads nothing from elsewhere.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import quote

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: .4em .6em; vertical-align: top; text-align: left; }
th { background: #f2f2f2; }
td.cell { max-width: 24em; }
.verdict { font-weight: bold; display: block; }
.why, .more { font-size: 12px; display: block; }
.v-safe { background: #dff3df; }
.v-cannot-see { background: #fdf0c8; }
.v-loses-writes { background: #f8d2d2; }
.v-inconclusive { background: #e4e4f4; }
.v-not-applicable, .v-not-run { background: #f4f4f4; color: #666; }
.no { color: #a00; }
"""


def verdict_class(verdict: str) -> str:
    """The CSS class of a verdict: ``v-`` and its words joined by dashes (``loses writes``: ``v-loses-writes``)."""
    return "v-" + "-".join(verdict.split())


def render(data: dict, page_folder: str | None = None) -> str:
    """The page; bundle links are relative to ``page_folder`` (where the page is written) when given."""
    e = html.escape
    columns, rows = data["compressors"], [f"codex:{r['version']}" for r in data["releases"]]
    pairs = {(p["session"], p["compressor"]): p for p in data["pairs"]}
    seconds = f", a {data['seconds']:g} s campaign per pair (seed {data['seed']})" if data["seconds"] else ""
    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>codex releases on one home</title>", f"<style>{_CSS}</style></head><body>",
           "<h1>codex releases on one home</h1>",
           f"<p>Status: <b>{e(data['status'])}</b>{e(seconds)}. Rows: the release whose sessions list, read, "
           "resume and write; columns: the compressor. <i>loses writes</i>: a line the session acknowledged is "
           "in no file; <i>cannot see</i>: a compressed rollout is not listed, or reading or resuming it fails."
           "</p>",
           "<table><thead><tr><th>sessions \\ compressor</th>"
           + "".join(f"<th>{e(c)}</th>" for c in columns) + "</tr></thead><tbody>"]
    for row in rows:
        out.append(f"<tr><th>{e(row)}</th>" + "".join(_cell(pairs.get((row, c)), page_folder) for c in columns)
                   + "</tr>")
    out += ["</tbody></table>", "<h2>What each release was seen to do</h2>", _facts(data["releases"]),
            "</body></html>"]
    return "\n".join(out) + "\n"


def _cell(pair: dict | None, page_folder: str | None) -> str:
    e = html.escape
    if pair is None:
        return '<td class="cell v-not-run"><span class="verdict">not run</span></td>'
    parts = [f'<span class="verdict">{e(pair["verdict"])}</span>', f'<span class="why">{e(pair["why"])}</span>']
    hold = pair.get("hold")
    if hold:
        told = {True: "kept", False: "lost", None: "not told"}[hold["kept"]]
        parts.append(f'<span class="more">hold: {e(hold["outcome"])}, line {told}</span>')
    campaign = pair.get("campaign") or {}
    if campaign:
        words = " ".join([campaign.get("status", ""), *campaign.get("classes", ())])
        parts.append(f'<span class="more">campaign: {e(words)}</span>')
    links = [(pair.get("bundle", ""), "loss bundle"), (campaign.get("bundle", ""), "campaign bundle")]
    parts += [f'<span class="more"><a href="{e(_href(path, page_folder))}">{label}</a></span>'
              for path, label in links if path]
    return f'<td class="cell {verdict_class(pair["verdict"])}">' + "".join(parts) + "</td>"


def _href(path: str, page_folder: str | None) -> str:
    """A link to a bundle folder: relative to the page's folder when it is known, else a file URI."""
    if page_folder and os.path.isabs(path):
        return quote(os.path.relpath(path, page_folder)) + "/"
    return Path(path).as_uri() + "/" if os.path.isabs(path) else quote(path) + "/"


def _facts(releases: list[dict]) -> str:
    e = html.escape

    def said(ok: bool, error: str) -> str:
        return "yes" if ok else '<span class="no">no</span>' + (f" ({e(error)})" if error else "")

    out = ["<table><thead><tr><th>release</th><th>--version prints</th><th><code>rollout/compress</code></th>"
           "<th><code>thread/resume</code></th><th>resumed session holds "
           "<code>thread-writer-locks/&lt;id&gt;.lock</code></th><th>reads <code>.jsonl.zst</code></th>"
           "</tr></thead><tbody>"]
    for r in releases:
        out.append(f"<tr><th>{e(r['version'])}</th><td>{e(r['printed'])}</td>"
                   f"<td>{said(r['has_compress'], r['compress_error'])}</td>"
                   f"<td>{said(r['resume_works'], r['resume_error'])}</td>"
                   f"<td>{said(r['resume_holds_writer_lock'], '')}</td>"
                   f"<td>{said(r['reads_zst'], r['zst_error'])}</td></tr>")
    return "\n".join(out + ["</tbody></table>"])
