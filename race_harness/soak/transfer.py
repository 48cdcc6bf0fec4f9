"""A bundle folder carried from the worker that wrote it to the machine that started the soak.

Contract: :func:`pack` turns a folder into one ASCII string (a gzipped tar, base64) that rides in a
pytest report over the xdist/execnet channel; :func:`unpack` writes it under a local folder and
rewrites the bundle's own text files (meta.json, verdict.txt) to name the folder where it now is.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import tarfile
import tempfile

#: The text files of a bundle that name its folder (the replay command): rewritten on arrival.
NAMES_ITS_FOLDER = ("meta.json", "verdict.txt")


def pack(folder: str) -> str:
    """``folder`` as one string: a gzipped tar of it under its own name, base64-encoded."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=os.path.basename(folder.rstrip("/")))
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def unpack(payload: str, dest_root: str, written_at: str) -> str:
    """Unpack a :func:`pack` string under ``dest_root``; the folder it made (``written_at``: where the
    worker wrote it, replaced by the new place in the bundle's text files)."""
    os.makedirs(dest_root, exist_ok=True)
    landing = tempfile.mkdtemp(prefix=".arriving-", dir=dest_root)
    try:
        with tarfile.open(fileobj=io.BytesIO(base64.b64decode(payload)), mode="r:gz") as tar:
            tar.extractall(landing, filter="data")  # no absolute paths, links out or devices
        top = os.listdir(landing)
        if len(top) != 1:
            raise ValueError(f"a bundle payload holds one folder, not {sorted(top)}")
        folder = os.path.join(dest_root, top[0])
        suffix = 0
        while os.path.exists(folder + (f"-{suffix}" if suffix else "")):
            suffix += 1  # an earlier soak into the same folder left a bundle of this name
        folder += f"-{suffix}" if suffix else ""
        os.rename(os.path.join(landing, top[0]), folder)
    finally:
        shutil.rmtree(landing, ignore_errors=True)
    new = os.path.abspath(folder)
    for text in NAMES_ITS_FOLDER:
        path = os.path.join(new, text)
        if written_at and os.path.isfile(path):
            with open(path) as handle:
                content = handle.read()
            with open(path, "w") as handle:
                handle.write(content.replace(written_at, new))
    return new
