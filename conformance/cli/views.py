"""``report`` (one page across stores from JSON reports) and ``timeline`` (a race bundle, drawn).

Contract: :func:`register` adds both subcommands; each returns 0 when it wrote what was asked,
2 on a usage error (an unreadable report, a folder that is not a bundle), and 3 when a screenshot
was asked for but no headless browser could take it.
"""

from __future__ import annotations

import argparse
import os
import sys

USAGE_ERROR, NO_BROWSER = 2, 3


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="one page (HTML and/or Markdown) from any number of suite reports",
        description="A requirement x store matrix from the JSON files of `suite --report FILE`. Without --html or "
                    "--markdown, the Markdown goes to stdout.")
    p.add_argument("reports", nargs="+", metavar="REPORT.json")
    p.add_argument("--html", metavar="OUT.html", help="write the page as self-contained HTML here")
    p.add_argument("--markdown", metavar="OUT.md", help="write the table as Markdown here")
    p.add_argument("--screenshot", metavar="OUT.png",
                   help="also a PNG of the HTML page showing only requirements some store did not pass "
                        "(the page opened as OUT.html#differences; headless chromium)")
    p.add_argument("--size", default="1400x900", metavar="WxH", help="screenshot window size (default 1400x900)")
    p.set_defaults(func=_cmd_report)
    t = subparsers.add_parser(
        "timeline", help="(re)write a race bundle's timeline.html",
        description="Race bundles get timeline.html when they are written; this redraws one (e.g. an older bundle).")
    t.add_argument("bundle", help="a bundle folder written by race")
    t.add_argument("--screenshot", metavar="OUT.png", help="also a PNG of the page (headless chromium)")
    t.add_argument("--size", default="1400x900", metavar="WxH", help="screenshot window size (default 1400x900)")
    t.set_defaults(func=_cmd_timeline)


def _cmd_report(args: argparse.Namespace) -> int:
    from conformance.reports import html as html_report
    from conformance.api import requirements
    from conformance.reports.loader import ReportError, load

    try:
        runs = [load(path) for path in args.reports]
    except ReportError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return USAGE_ERROR
    known = requirements.load()
    if args.screenshot and not args.html:
        print("report: --screenshot takes a picture of the --html page: give --html OUT.html too", file=sys.stderr)
        return USAGE_ERROR
    if args.html:
        _write(args.html, html_report.html(runs, known))
    if args.markdown:
        _write(args.markdown, html_report.markdown(runs, known))
    if not args.html and not args.markdown:
        sys.stdout.write(html_report.markdown(runs, known))
    return _screenshot(args.html + "#differences", args.screenshot, args.size) if args.screenshot else 0


def _cmd_timeline(args: argparse.Namespace) -> int:
    from race_harness.timeline import write_timeline

    if not os.path.isfile(os.path.join(args.bundle, "meta.json")):
        print(f"timeline: {args.bundle} is not a repro bundle (no meta.json)", file=sys.stderr)
        return USAGE_ERROR
    path = write_timeline(args.bundle)
    print(f"timeline: {path}")
    return _screenshot(path, args.screenshot, args.size) if args.screenshot else 0


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"written: {os.path.abspath(path)}")


def _screenshot(page: str, out: str, size: str) -> int:
    from conformance.reports.browser import BrowserUnavailable, screenshot

    try:
        width, height = (int(n) for n in size.lower().split("x"))
    except ValueError:
        print(f"--size {size!r}: give WIDTHxHEIGHT in pixels, e.g. 1400x900", file=sys.stderr)
        return USAGE_ERROR
    try:
        print(f"screenshot: {screenshot(page, out, width, height)}")
    except BrowserUnavailable as exc:
        print(f"screenshot: {exc}", file=sys.stderr)
        return NO_BROWSER
    return 0
