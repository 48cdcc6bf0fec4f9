"""A bundle folder survives the trip from a worker to the soak's machine (race_harness/soak/transfer.py)."""

from __future__ import annotations

import json

from race_harness.soak.transfer import pack, unpack


def test_a_packed_bundle_unpacks_whole_and_names_its_new_folder(tmp_path):
    far = tmp_path / "far" / "bundles" / "campaign-seed4-123"
    (far / "stderr").mkdir(parents=True)
    (far / "stderr" / "writer-0.txt").write_bytes(b"\x00binary\xff")
    (far / "meta.json").write_text(json.dumps({"replay": f"replay {far}", "seed": 4}))
    (far / "verdict.txt").write_text(f"replay: replay {far}\n")
    payload = pack(str(far))
    assert payload.isascii()
    here = tmp_path / "here"
    first, second = unpack(payload, str(here), str(far)), unpack(payload, str(here), str(far))
    assert first == str(here / "campaign-seed4-123") and second == first + "-1"  # an earlier one is kept
    for folder in (first, second):
        assert json.loads((here / folder / "meta.json").read_text()) == {"replay": f"replay {folder}", "seed": 4}
        assert (here / folder / "verdict.txt").read_text() == f"replay: replay {folder}\n"
        assert (here / folder / "stderr" / "writer-0.txt").read_bytes() == b"\x00binary\xff"
    assert sorted(p.name for p in here.iterdir()) == ["campaign-seed4-123", "campaign-seed4-123-1"]
