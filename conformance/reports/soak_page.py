"""The HTML page of a soak: one row per seed, whoever ran it, each failing seed linked to its bundle.

Contract: :func:`html` renders a merged soak report (the dict of
conformance/protocol/schemas/soak-report.schema.json) as one self-contained page (inline CSS, no
network): the store, the overall status and counts, seeds per hour, the workers and gateways, and a
row per seed with its verdict, classes, requirement ids, worker, seconds, notes and links to its
bundle's timeline and verdict (relative to the page when the page is written next to the bundles).
"""

from __future__ import annotations

import html as _html
import os

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin-top:1em}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;
vertical-align:top}th{background:#f3f3f3}td.passed{background:#e6f4e6}td.violation{background:#f9dcdc}
td.inconclusive,td.not_run{background:#fff3cd}.small{color:#666;font-size:12px}code{font-size:12px}
"""


def _e(value: object) -> str:
    return _html.escape(str(value))


def _link(bundle: str, name: str, page_dir: str) -> str:
    path = os.path.join(bundle, name)
    if not os.path.exists(path):
        return ""
    target = os.path.relpath(path, page_dir) if page_dir else path
    return f'<a href="{_e(target)}">{_e(name)}</a>'


def html(report: dict, page_dir: str = "") -> str:
    """The page for ``report``; links to bundles are relative to ``page_dir`` when given."""
    counts = report["counts"]
    workers = report["workers"]
    where = [f"{workers['local']} local" if workers["local"] else ""] + [f"--tx {spec}" for spec in workers["tx"]]
    head = (f"<h1>Soak of {_e(report['store'])}: {_e(report['status'])}</h1>"
            f"<p>{report['seeds_run']} of {len(report['seeds'])} seeds run ({_e(', '.join(report['kinds']))}) in "
            f"{report['seconds']:.1f} s, {report['seeds_per_hour']:g} seeds per hour, on "
            f"{_e(', '.join(w for w in where if w) or 'the soak process itself')}; "
            + ", ".join(f"{n} {_e(status.replace('_', ' '))}" for status, n in counts.items())
            + f'</p><p class="small">started {_e(report["started"])}, parameters '
            f"<code>{_e(report['params'])}</code>, bundles in <code>{_e(report['bundle_dir'])}</code>, "
            f"{_e(report['tool']['name'])} {_e(report['tool']['version'])}</p>")
    rows = []
    for seed in report["seeds"]:
        worker = seed["worker"]
        who = _e(worker.get("id", "")) + (f' <span class="small">{_e(worker["gateway"])}</span>'
                                          if worker.get("gateway") else "")
        links = " ".join(filter(None, (_link(seed["bundle"], name, page_dir)
                                       for name in ("timeline.html", "verdict.txt")))) if seed["bundle"] else ""
        rows.append(f"<tr><td>{_e(seed['name'])}</td><td class=\"{_e(seed['status'])}\">{_e(seed['status'])}</td>"
                    f"<td>{_e(', '.join(seed['classes']))}</td><td>{_e(', '.join(seed['requirements']))}</td>"
                    f"<td>{who}</td><td>{seed['seconds']:.1f}</td><td>{links}"
                    + (f'<br><span class="small">{_e(seed["bundle"])}</span>' if seed["bundle"] else "")
                    + f"</td><td class=\"small\">{'<br>'.join(_e(n) for n in seed['notes'])}</td></tr>")
    table = ("<table><tr><th>seed</th><th>verdict</th><th>classes</th><th>requirements</th><th>worker</th>"
             "<th>s</th><th>bundle</th><th>notes</th></tr>" + "".join(rows) + "</table>")
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>soak: {_e(report['store'])}</title>"
            f"<style>{_CSS}</style></head><body>{head}{table}</body></html>\n")
