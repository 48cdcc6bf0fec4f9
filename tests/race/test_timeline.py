"""Every race bundle carries timeline.html: the run drawn per process, the witness highlighted.

The known lost-line scenario (r2 against the unlocked mutant) must show the writer's lost write and
the compressor's compress held before its unlink, both marked as witnesses, in the first view; a
campaign with kills must draw each kill on the lane of the process killed, injected errors and crash answers
their marks; pages render in headless chromium
without script errors (skipped with the reason when chromium is not installed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from helpers.campaigns import until_found
from helpers.page_dom import classes, rendered
from race_harness.scenarios import run_scenario
from race_harness.timeline import PAGE, build, write_timeline

UNLOCKED = "mutant:upstream-stat-recheck"


@pytest.fixture(scope="module")
def r2_bundle(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("r2")
    verdict = run_scenario(UNLOCKED, "r2-writer-vs-unlink", str(root / "work"), bundle_dir=str(root / "bundles"))
    assert verdict.status == "violation" and verdict.bundle, verdict.describe()
    return verdict.bundle


def _op(data: dict, ref: str) -> list:
    proc, seq = ref.split("#")
    return next(op for op in data["ops"] if data["lanes"][op[0]]["name"] == proc and op[1] == int(seq))


def test_r2_timeline_data_names_the_lost_write_and_the_held_unlink(r2_bundle):
    data = build(r2_bundle)
    lost = next(v for v in data["violations"] if v["class"] == "lost_line")
    (primary,) = lost["primary"]
    write = _op(data, primary)
    assert data["lanes"][write[0]]["name"] == "writer" and write[2] == "write"
    compress = next(_op(data, ref) for ref in lost["refs"] if ref.startswith("compressor#"))
    assert compress[2] == "compress"
    hold = next(m for m in data["marks"] if m[3] == "compress.before_unlink" and m[7])
    assert data["lanes"][hold[0]]["name"] == "compressor"
    # the write happened while the compressor was held before its unlink, inside its compress
    assert compress[3] <= hold[1] <= write[3] <= hold[2] <= compress[4]
    low, high = data["focus"]
    assert low <= compress[3] and write[4] <= high and hold[2] <= high
    assert data["lanes"][write[0]]["pid"] > 0 and "upstream-stat-recheck" in data["lanes"][write[0]]["store"]
    assert "--scenario r2-writer-vs-unlink" in data["command"] and data["replay"]


def test_timeline_is_self_contained(r2_bundle):
    text = open(os.path.join(r2_bundle, PAGE), encoding="utf-8").read()
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=|@import|url\((?!#)", text), "the page loads something"
    # the only URL is the SVG namespace, which is a name, not a fetch
    assert set(re.findall(r"https?://[^\s\"')]+", text)) == {"http://www.w3.org/2000/svg"}


def test_r2_timeline_in_headless_chromium_highlights_both_witnesses(r2_bundle):
    found = rendered(os.path.join(r2_bundle, PAGE))
    data = build(r2_bundle)
    lost = next(v for v in data["violations"] if v["class"] == "lost_line")
    bars = {a["data-ref"]: a for tag, a in found if tag == "rect" and "data-ref" in a}
    writer = bars[lost["primary"][0]]
    assert {"witness", "primary"} <= classes(writer)
    compressor = next(a for ref, a in bars.items() if ref.startswith("compressor#") and ref in lost["refs"])
    assert "witness" in classes(compressor)
    held = [a for tag, a in found if a.get("data-point") == "compress.before_unlink" and "hold" in classes(a)]
    assert held and "in-witness" in classes(held[0])
    # drawn inside the plot of the first view, not scrolled off to either side
    for bar in (writer, compressor):
        assert float(bar["x"]) + float(bar["width"]) > 230 and float(bar["x"]) < 1400
    labels = "".join(a.get("class", "") for tag, a in found if tag == "text")
    assert "witness-label" in labels


def test_race_command_prints_the_timeline_path(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "conformance.cli", "race", "--store", UNLOCKED, "--scenario",
                           "r2-writer-vs-unlink", "--bundle-dir", str(tmp_path / "bundles"), "--workdir",
                           str(tmp_path / "work")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    path = re.search(r"timeline:\s+(\S+)", proc.stdout).group(1)
    assert path.endswith(PAGE) and os.path.isfile(path)
    bundle = os.path.dirname(path)
    replayed = subprocess.run([sys.executable, "-m", "conformance.cli", "replay", bundle], capture_output=True,
                              text=True, timeout=120)
    assert f"timeline of the recorded run: {path}" in replayed.stdout


def test_campaign_with_kills_draws_its_kills(tmp_path):
    config, verdict = until_found(UNLOCKED, tmp_path, "lost_line", first_seed=3, writers=2, compressors=1, readers=1,
                                  listers=0, kills=True)
    assert config and verdict.bundle, verdict.describe()
    data = build(verdict.bundle)
    killed = {data["lanes"][k[0]]["name"] for k in data["kills"]}
    assert killed and killed <= {lane["name"] for lane in data["lanes"]}, data["kills"]
    assert all(k[2] == data["lanes"][k[0]]["pid"] for k in data["kills"]), (data["kills"], data["lanes"])
    # an operation its process never finished ends where the process died, not at the end of the run
    deaths = {(k[0], k[1]) for k in data["kills"]} | {(m[0], m[2]) for m in data["marks"] if m[4] == "crash"}
    cut = [op for op in data["ops"] if op[9] and data["lanes"][op[0]]["name"] in killed]
    assert all((op[0], op[4]) in deaths for op in cut), (cut, deaths)
    assert len(data["ops"]) > 20, len(data["ops"])
    assert any("primary" in classes(a) for tag, a in rendered(os.path.join(verdict.bundle, PAGE)) if tag == "rect")
    whole = rendered(os.path.join(verdict.bundle, PAGE) + "#all")
    assert any(tag == "text" and "kill" in classes(a) for tag, a in whole)


def test_injected_errors_and_crash_answers_are_marked_on_their_lane(r2_bundle, tmp_path):
    folder = shutil.copytree(r2_bundle, tmp_path / "bundle")
    schedule = json.loads((folder / "schedule.json").read_text())
    answers = {"compress.after_encode": ("error", "ENOSPC"), "compress.after_publish": ("crash", None)}
    for decision in schedule["decisions"]:
        if decision["point"] in answers:
            decision["action"], decision["errno"] = answers[decision["point"]]
    (folder / "schedule.json").write_text(json.dumps(schedule))
    found = rendered(write_timeline(str(folder)))
    marks = {a.get("data-point"): classes(a) for tag, a in found if tag == "text" and "data-point" in a}
    assert "error" in marks["compress.after_encode"] and "crash" in marks["compress.after_publish"]
