"""C4 as published: JSON lines (``.json``/``.json.gz``) with ``text``, ``url``, ``timestamp``.

C4 is already filtered by its own rules, so ingest keeps every valid record. Some mirrors name the
timestamp ``date``; both are accepted. A damaged record is quarantined, the rest of the file goes on;
a truncated gzip keeps every record before the damage.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from corpus.recipe import INGEST_MAX_DOC_BYTES
from corpus.schema import Drop, new_document
from corpus.sources.lines import read_json_lines

SOURCE = "c4"
STAGE = "ingest"
SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".json.zst", ".jsonl.zst")


def discover_inputs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES))


def read_documents(path: Path, name: str, max_doc_bytes: int = INGEST_MAX_DOC_BYTES) -> Iterator[dict[str, Any] | Drop]:
    return read_json_lines(path, name, SOURCE, STAGE, max_doc_bytes, _record)


def _record(record: Any, locator: str, where: str) -> dict[str, Any] | Drop:
    if not isinstance(record, dict):
        return Drop.at(SOURCE, locator, STAGE, "not_an_object", f"{where}: a JSON {type(record).__name__}")
    text = record.get("text")
    if not isinstance(text, str):
        return Drop.at(SOURCE, locator, STAGE, "missing_text", f"{where}: no string field 'text'")
    text = text.replace("\x00", "")
    if not text.strip():
        return Drop.at(SOURCE, locator, STAGE, "empty_text", where)
    timestamp = record.get("timestamp", record.get("date"))
    return new_document(SOURCE, locator, text, url=record.get("url"), path=locator,
                        timestamp=str(timestamp) if timestamp is not None else None)
