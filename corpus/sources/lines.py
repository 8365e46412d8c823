"""The record loop of JSON-lines inputs: one place that quarantines oversized lines, bad UTF-8, bad JSON
and a damaged stream, so every reader of such files keeps the good records the same way."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

from corpus.compression import iter_lines, open_stream, stream_damage
from corpus.schema import Drop

RecordParser = Callable[[Any, str, str], "dict[str, Any] | Drop"]


def read_json_lines(path: Path, name: str, source: str, stage: str, max_doc_bytes: int,
                    parse: RecordParser) -> Iterator[dict[str, Any] | Drop]:
    """``parse(decoded JSON value, locator, where)`` for each non-blank line; the locator is
    ``<name>:<line number>``, ``where`` names the file and line for drop details."""
    with open_stream(path) as stream:
        for lineno, raw in iter_lines(stream, max_doc_bytes):
            locator = f"{name}:{lineno}"
            if raw is None:
                yield Drop.at(source, locator, stage, "too_large", f"{path}: line {lineno} over {max_doc_bytes} bytes")
            elif raw.strip():
                where = f"{path}: line {lineno}"
                try:
                    value = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    yield Drop.at(source, locator, stage, "bad_utf8", f"{where}: {exc}")
                except json.JSONDecodeError as exc:
                    yield Drop.at(source, locator, stage, "bad_json", f"{where}: {exc}")
                else:
                    yield parse(value, locator, where)
        if damage := stream_damage(stream):
            yield Drop.at(source, f"{name}:damaged", stage, "corrupt_file", damage)
