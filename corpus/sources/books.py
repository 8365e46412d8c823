"""Books: Project Gutenberg plain text and Books3-style plain text (one book per ``.txt`` file, or one
per line of a JSON-lines file with a ``text`` field).

The Gutenberg licence header and footer are cut at their markers (``*** START OF THE/THIS PROJECT
GUTENBERG EBOOK ...``, the 1990s ``*END*THE SMALL PRINT`` header, ``*** END OF ...`` and ``End of
(the) Project Gutenberg ...``); a file without markers (a header-stripped copy, a Books3 text) is kept as
it is. Title, author, language and eBook number come from the header into ``meta``. Copies of one book
in several folders stay separate documents (ids come from the part name): book-level near-dedup is the
MinHash stage's job.

Encoding: UTF-8 (a BOM is dropped); a book that is not UTF-8 is decoded with the charset its Gutenberg
header declares (``Character set encoding: ISO-8859-1``) and dropped as ``bad_utf8`` when it declares
none, so no text is ever guessed.
"""
from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any, Iterator

from corpus.compression import open_stream, stream_damage
from corpus.recipe import INGEST_MAX_DOC_BYTES
from corpus.schema import Drop, new_document
from corpus.sources.lines import read_json_lines

SOURCE = "books"
STAGE = "ingest"
COMPRESSIONS = ("", ".gz", ".bz2", ".xz", ".zst")
TEXT_SUFFIXES = tuple(".txt" + c for c in COMPRESSIONS)
JSONL_SUFFIXES = tuple(s + c for s in (".jsonl", ".json") for c in COMPRESSIONS)

# The marker line may wrap ("... SHERLOCK\nHOLMES ***"), so the START form runs to its closing stars.
_START = re.compile(
    r"^[ \t]*\*{3}[ \t]*START OF (?:THE|THIS) PROJECT GUTENBERG[^*]*\*{3}.*$"
    r"|^[ \t]*\*END\*[ \t]*THE SMALL PRINT.*$",
    re.IGNORECASE | re.MULTILINE,
)
_END = re.compile(
    r"^[ \t]*(?:\*{3}[ \t]*END OF (?:THE|THIS) PROJECT GUTENBERG|End of (?:the |this )?Project Gutenberg)",
    re.IGNORECASE | re.MULTILINE,
)
# "Title:" fields continue on indented lines.
_HEADER_FIELDS = {
    key: re.compile(rf"^{label}:[ \t]*(\S.*(?:\n[ \t]+\S.*)*)", re.MULTILINE)
    for key, label in (("title", "Title"), ("author", "Author"), ("language", "Language"))
}
_EBOOK_NUMBER = re.compile(r"\[E(?:Book|Text) #(\d+)\]", re.IGNORECASE)
_DECLARED_CHARSET = re.compile(rb"Character set encoding:[ \t]*([A-Za-z0-9_.:-]+)", re.IGNORECASE)
# The declared charset sits in the header, within the first few kilobytes.
_CHARSET_SCAN_BYTES = 16 << 10


def discover_inputs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(TEXT_SUFFIXES + JSONL_SUFFIXES))


def read_documents(path: Path, name: str, max_doc_bytes: int = INGEST_MAX_DOC_BYTES) -> Iterator[dict[str, Any] | Drop]:
    if path.name.lower().endswith(JSONL_SUFFIXES):
        yield from read_json_lines(path, name, SOURCE, STAGE, max_doc_bytes, _jsonl_record)
    else:
        yield _read_text_file(path, name, max_doc_bytes)


def strip_gutenberg(text: str) -> tuple[str, dict[str, Any]]:
    """The book without the Gutenberg licence header/footer, and what the header says about it."""
    meta: dict[str, Any] = {}
    start = _START.search(text)
    if start:
        header, text = text[: start.start()], text[start.end():]
        meta["gutenberg_header"] = True
        for key, pattern in _HEADER_FIELDS.items():
            if m := pattern.search(header):
                meta[key] = " ".join(m.group(1).split())
        if m := _EBOOK_NUMBER.search(header):
            meta["ebook"] = int(m.group(1))
    if end := _END.search(text):
        text = text[: end.start()]
        meta["gutenberg_footer"] = True
    return text.strip(), meta


def _read_text_file(path: Path, name: str, max_doc_bytes: int) -> dict[str, Any] | Drop:
    with open_stream(path) as stream:
        raw = stream.read(max_doc_bytes + 1)
        damage = stream_damage(stream)
    if damage:  # half a book is not kept: the intact copy elsewhere is what dedup should see
        return Drop.at(SOURCE, name, STAGE, "corrupt_file", damage)
    if len(raw) > max_doc_bytes:
        return Drop.at(SOURCE, name, STAGE, "too_large", f"{path}: over {max_doc_bytes} bytes")
    if not raw.strip():
        return Drop.at(SOURCE, name, STAGE, "empty", f"{path}: no text")
    decoded = _decode(raw)
    if decoded is None:
        return Drop.at(SOURCE, name, STAGE, "bad_utf8", f"{path}: not UTF-8 and no charset declared in a Gutenberg header")
    text, encoding = decoded
    return _book(name, text, {"encoding": encoding})


def _decode(raw: bytes) -> tuple[str, str] | None:
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    declared = _DECLARED_CHARSET.search(raw[:_CHARSET_SCAN_BYTES])
    if declared is None:
        return None
    charset = declared.group(1).decode("ascii")
    try:
        return raw.decode(codecs.lookup(charset).name), charset
    except (LookupError, UnicodeDecodeError):
        return None


def _book(locator: str, text: str, meta: dict[str, Any]) -> dict[str, Any] | Drop:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    body, header_meta = strip_gutenberg(text)
    if not body:
        return Drop.at(SOURCE, locator, STAGE, "empty_text", f"{locator}: nothing left after the Gutenberg header/footer")
    return new_document(SOURCE, locator, body, path=locator, meta={**meta, **header_meta})


def _jsonl_record(record: Any, locator: str, where: str) -> dict[str, Any] | Drop:
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        return Drop.at(SOURCE, locator, STAGE, "missing_text", f"{where}: no string field 'text'")
    extra = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    meta = {key: value for key in ("title", "author") if isinstance(value := record.get(key, extra.get(key)), str)}
    return _book(locator, record["text"], meta)
