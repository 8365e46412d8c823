"""The document model every stage shares, and the records that explain what was removed.

Documents travel as Arrow record batches of ``DOCUMENT_SCHEMA``. Readers yield plain dicts
(``new_document``) or ``Drop`` records for input they had to quarantine; ``batches`` turns that
stream into record batches.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import pyarrow as pa
import xxhash

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("path", pa.string()),
        pa.field("license", pa.string()),
        pa.field("timestamp", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("lang_score", pa.float32()),
        pa.field("perplexity", pa.float32()),
        pa.field("bucket", pa.string()),
        pa.field("wikiref_score", pa.float32()),
        # the model-based quality classifier's score (LLaMA-3 / DCLM); null where it does not run
        pa.field("quality_classifier_score", pa.float32()),
        # source-specific extras (title, repo, site, ...), JSON-encoded so the schema stays fixed
        pa.field("meta", pa.string()),
    ]
)
DOCUMENT_FIELDS = tuple(DOCUMENT_SCHEMA.names)

DROPPED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
    ]
)

FUNNEL_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("docs_in", pa.int64(), nullable=False),
        pa.field("docs_out", pa.int64(), nullable=False),
        pa.field("chars_in", pa.int64(), nullable=False),
        pa.field("chars_out", pa.int64(), nullable=False),
    ]
)


def make_doc_id(source: str, locator: str) -> str:
    """A stable id from where a record came from (file name relative to its source + record key).

    The source prefix keeps ids unique across sources (RedPajama gave pg19 and books3 colliding ids).
    """
    return f"{source}-{xxhash.xxh3_128_hexdigest(locator.encode('utf-8', 'surrogatepass'))[:24]}"


def new_document(source: str, locator: str, text: str, **fields: Any) -> dict[str, Any]:
    """A document dict with every schema field present; ``meta`` may be given as a dict."""
    doc = dict.fromkeys(DOCUMENT_FIELDS)
    doc.update(fields)
    doc["id"] = make_doc_id(source, locator)
    doc["source"] = source
    doc["text"] = text
    meta = doc.get("meta")
    if isinstance(meta, dict):
        doc["meta"] = json.dumps(meta, ensure_ascii=False, sort_keys=True) if meta else None
    return doc


@dataclass(frozen=True)
class Drop:
    """A record removed at a stage, with the reason users will see in the catalog's ``dropped``."""

    id: str
    source: str
    stage: str
    reason: str
    detail: str = ""

    @classmethod
    def at(cls, source: str, locator: str, stage: str, reason: str, detail: str = "") -> "Drop":
        return cls(make_doc_id(source, locator), source, stage, reason, detail[:500])


def documents_to_batch(docs: list[dict[str, Any]]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(docs, schema=DOCUMENT_SCHEMA)


def drops_to_table(drops: Iterable[Drop]) -> pa.Table:
    rows = [d.__dict__ for d in drops]
    return pa.Table.from_pylist(rows, schema=DROPPED_SCHEMA)


def batches(docs: Iterable[dict[str, Any]], max_rows: int = 1024, max_chars: int = 64 << 20) -> Iterator[pa.RecordBatch]:
    """Group a document stream into record batches bounded in rows and in text size."""
    pending: list[dict[str, Any]] = []
    chars = 0
    for doc in docs:
        pending.append(doc)
        chars += len(doc["text"])
        if len(pending) >= max_rows or chars >= max_chars:
            yield documents_to_batch(pending)
            pending, chars = [], 0
    if pending:
        yield documents_to_batch(pending)
