"""The model store: every model the filters use lives in ``models/<name>/<version>/``.

A version folder is built under a temp name and renamed into place, so a crash leaves no half model;
a marker file (``manifest.json`` unless the model says otherwise) written inside it means complete.
``models/<name>/current.json`` names the version the filters use, by its folder name (a path relative
to ``models/<name>/``, so a data root can be moved or mounted elsewhere), and is replaced atomically.
The version is also the model asset's Dagster data version, so the filters downstream of it show as
unsynced when the model changes.
"""
from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Callable

from corpus.storage import atomic_path

MANIFEST = "manifest.json"
POINTER = "current.json"


def version_dir(models_root: Path, name: str, version: str) -> Path:
    return Path(models_root) / name / version


def publish(models_root: Path, name: str, version: str, build: Callable[[Path], object],
            marker: str = MANIFEST) -> tuple[Path, bool]:
    """Build ``<name>/<version>/`` with ``build(tmp_dir)`` unless its ``marker`` exists. Returns (folder, reused)."""
    final = version_dir(models_root, name, version)
    if (final / marker).exists():
        return final, True
    tmp = final.with_name(f"{version}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        build(tmp)
        if not (tmp / marker).exists():
            raise RuntimeError(f"building model {name}/{version} wrote no {marker}")
        if final.exists():  # an incomplete folder from an older crash
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return final, False


def set_current(models_root: Path, name: str, version: str) -> None:
    """Point the filters at ``<name>/<version>/`` (atomic replace of ``current.json``)."""
    if Path(version).name != version:
        raise ValueError(f"a model version is a folder name, not a path: {version!r}")
    with atomic_path(Path(models_root) / name / POINTER) as tmp:
        tmp.write_text(json.dumps({"version": version}))


def current_version(models_root: Path, name: str) -> str | None:
    pointer = Path(models_root) / name / POINTER
    return json.loads(pointer.read_text())["version"] if pointer.exists() else None


def current_dir(models_root: Path, name: str, marker: str = MANIFEST) -> Path:
    """The model folder the filters use; a clear error when the model asset has not run."""
    version = current_version(models_root, name)
    if version is None:
        raise FileNotFoundError(f"no trained {name!r} model under {models_root}: materialize its quality_models asset first")
    folder = version_dir(models_root, name, version)
    if not (folder / marker).exists():
        raise FileNotFoundError(f"{Path(models_root) / name / POINTER} names {folder}, which has no {marker}")
    return folder
