"""The ``versions`` matrix as an HTML page (``conformance.reports.versions_page``), from a JSON report."""

from __future__ import annotations

from html.parser import HTMLParser

from conformance.reports.json_report import validate_report
from conformance.reports.versions_page import render, verdict_class

_FACTS = {"printed": "", "has_compress": True, "compress_error": "", "resume_works": True, "resume_error": "",
          "resume_holds_writer_lock": True, "reads_zst": True, "zst_error": ""}


def _pair(session, compressor, verdict, why, bundle="", campaign=None):
    hold = {"outcome": "compressed", "kept": verdict != "loses writes", "detail": "", "rollout": "sessions/r.jsonl",
            "representations": ["sessions/r.jsonl"], "line_in": []}
    return {"session": session, "compressor": compressor, "verdict": verdict, "why": why, "seen": [],
            "hold": hold, "campaign": campaign or {}, "bundle": bundle}


def _report(tmp_path) -> dict:
    old = dict(_FACTS, printed="codex-cli 0.130.0", has_compress=False, reads_zst=False, resume_holds_writer_lock=False,
               compress_error="-32600 unknown variant `rollout/compress` <blink>", zst_error="not UTF-8 & <stop>")
    data = {"format": "rollout-conformance/versions-report", "format_version": 1, "status": "failed", "seed": 0,
            "seconds": 10, "compressors": ["codex:0.171.0", "reference"],
            "releases": [{"version": "0.130.0", **old},
                         {"version": "0.171.0", **dict(_FACTS, printed="codex-cli 0.171.0")}],
            "pairs": [
                _pair("codex:0.130.0", "codex:0.171.0", "loses writes", "line lost <script>alert(1)</script>",
                      bundle=str(tmp_path / "bundles" / "versions-hold-a"),
                      campaign={"status": "violation", "classes": ["lost_line"],
                                "bundle": str(tmp_path / "bundles" / "race b"), "notes": []}),
                _pair("codex:0.130.0", "reference", "cannot see", "6 of 6 rollouts not seen (\"x\" & 'y')"),
                _pair("codex:0.171.0", "codex:0.171.0", "safe", "all 6 rollouts seen"),
                _pair("codex:0.171.0", "reference", "inconclusive", "hold-then-compress told nothing"),
            ]}
    validate_report(data, "versions-report")  # the fixture is what `versions --json` writes
    return data


class _Cells(HTMLParser):
    """The first table's body cells: (row header, column position) -> (class, text, links)."""

    def __init__(self):
        super().__init__()
        self.tables, self.cells, self.row, self.column = 0, {}, None, -1
        self.in_cell = self.in_head = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables += 1
        if self.tables != 1:
            return
        if tag == "tr":
            self.row, self.column = None, -1
        elif tag == "th" and self.row is None:
            self.in_head, self.row = True, ""
        elif tag == "td":
            self.column += 1
            self.in_cell = True
            self.cells[(self.row, self.column)] = [attrs.get("class", ""), "", []]
        elif tag == "a" and self.in_cell:
            self.cells[(self.row, self.column)][2].append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "th":
            self.in_head = False
        elif tag == "td":
            self.in_cell = False

    def handle_data(self, data):
        if self.tables == 1 and self.in_head:
            self.row += data
        elif self.tables == 1 and self.in_cell:
            self.cells[(self.row, self.column)][1] += data


def test_every_pair_is_a_cell_with_its_verdict_class_why_and_bundle_links(tmp_path):
    data = _report(tmp_path)
    page = render(data, str(tmp_path))
    parser = _Cells()
    parser.feed(page)
    cells = {key: value for key, value in parser.cells.items() if key[0] != "sessions \\ compressor"}
    assert len(cells) == len(data["pairs"])
    for pair in data["pairs"]:
        css, text, links = cells[(pair["session"], data["compressors"].index(pair["compressor"]))]
        assert css.split() == ["cell", verdict_class(pair["verdict"])]
        assert text.startswith(pair["verdict"]) and pair["why"] in text  # unescaped back by the parser
    assert cells[("codex:0.130.0", 0)][2] == ["bundles/versions-hold-a/", "bundles/race%20b/"]
    assert {verdict_class(p["verdict"]) for p in data["pairs"]} == {
        "v-loses-writes", "v-cannot-see", "v-safe", "v-inconclusive"}
    assert all(f".{verdict_class(p['verdict'])} {{" in page for p in data["pairs"])  # each class is coloured


def test_the_page_escapes_every_text_and_loads_nothing_from_elsewhere(tmp_path):
    page = render(_report(tmp_path))
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<blink>" not in page and "`rollout/compress` &lt;blink&gt;" in page  # the facts table, below
    assert "not UTF-8 &amp; &lt;stop&gt;" in page
    assert "(&quot;x&quot; &amp; &#x27;y&#x27;)" in page
    assert "http" not in page and "<link" not in page
    assert f'href="{(tmp_path / "bundles" / "versions-hold-a").as_uri()}/"' in page  # no page folder: file URIs
