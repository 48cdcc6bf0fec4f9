"""Helpers for tests of the project's HTML pages: render in headless chromium, find elements.

Contract: :func:`rendered` returns the DOM of a page after its scripts ran, skipping the test with
the reason when no headless chromium is installed, and failing it when the page recorded a script
error or never finished rendering; :func:`elements` lists the start tags of a DOM as (tag, attrs).
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from conformance.reports.browser import BrowserUnavailable, find_chromium, rendered_dom


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.root: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        if tag == "html":
            self.root = attributes
        self.found.append((tag, attributes))


def elements(dom: str) -> tuple[dict[str, str], list[tuple[str, dict[str, str]]]]:
    """(attributes of <html>, every start tag in document order)."""
    collector = _Collector()
    collector.feed(dom)
    return collector.root, collector.found


def rendered(page: str) -> list[tuple[str, dict[str, str]]]:
    """The page's elements once its scripts ran (skip without chromium, fail on a script error)."""
    try:
        find_chromium()
    except BrowserUnavailable as exc:
        pytest.skip(str(exc))
    dom = rendered_dom(page)
    root, found = elements(dom)
    assert not root.get("data-js-errors"), f"script errors on {page}: {root['data-js-errors']}"
    assert root.get("data-rendered"), f"{page} never finished rendering (no data-rendered on <html>)"
    return found


def classes(attrs: dict[str, str]) -> set[str]:
    return set(attrs.get("class", "").split())
