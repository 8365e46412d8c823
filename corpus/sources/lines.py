"""The record loop of line-per-record inputs (JSON lines): one place that quarantines oversized lines
and a damaged stream, so every reader of such files keeps the good records the same way."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

from corpus.compression import iter_lines, open_stream, stream_damage
from corpus.schema import Drop

RecordParser = Callable[[bytes, str, str], "dict[str, Any] | Drop"]


def read_line_records(path: Path, name: str, source: str, stage: str, max_doc_bytes: int,
                      parse: RecordParser) -> Iterator[dict[str, Any] | Drop]:
    """``parse(raw line, locator, where)`` for each non-blank line; the locator is ``<name>:<line number>``."""
    with open_stream(path) as stream:
        for lineno, raw in iter_lines(stream, max_doc_bytes):
            locator = f"{name}:{lineno}"
            if raw is None:
                yield Drop.at(source, locator, stage, "too_large", f"{path}: line {lineno} over {max_doc_bytes} bytes")
            elif raw.strip():
                yield parse(raw, locator, f"{path}: line {lineno}")
        if damage := stream_damage(stream):
            yield Drop.at(source, f"{name}:damaged", stage, "corrupt_file", damage)
