"""One reader module per source. Each module provides:

- ``discover_inputs(root: Path) -> list[Path]``: the input units under a source folder (files, or
  folders for repository trees and paper directories), sorted, so partitions are stable;
- ``read_documents(path: Path, name: str, **options) -> Iterator[dict | Drop]``: the documents of one
  unit (``corpus.schema.new_document``) in a deterministic order (options are keyword arguments with
  defaults: the ingest asset's Config fields), with a ``Drop`` for every record
  it had to quarantine, and the source's own cleaning (LLaMA-1 recipe) applied.

``name`` is the unit's path relative to the source root; ids are derived from it and a record key.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from corpus.recipe import SOURCES


def reader(source: str) -> ModuleType:
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
    return importlib.import_module(f"corpus.sources.{source}")
