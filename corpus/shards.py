"""Token shards (nanoGPT layout, see docs/SHARDS.md): the plan's rows, in order, each document's ids followed
by EOS, concatenated and cut into fixed-size little-endian ``train_NNNNNN.bin`` files (uint16 while the
vocabulary fits in 65,536 ids, else uint32); the held-out documents go to ``val_NNNNNN.bin``. Beside them,
``megatron/<split>.bin|.idx`` (``corpus/megatron.py``). ``manifest.json`` is written last: its existence
means the folder is complete; ``manifest_problems`` checks a folder against it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus import megatron
from corpus.faults import crash_point
from corpus.inputs import sha256_file
from corpus.storage import atomic_path

MANIFEST = "manifest.json"
MANIFEST_VERSION = 4  # 2: `val_documents` (the held-out documents' sources and spans); 3: `target_shares_pct`,
# `share_report` and `missing_sources` (achieved next to the shares table's own targets); 4: `formats` (Megatron)

@dataclass
class ShardWriter:
    """Fixed-size shards of one split, each written to a temp name and renamed, with its sha256."""

    folder: Path
    prefix: str
    dtype: np.dtype
    shard_tokens: int
    counts: np.ndarray | None = None  # unigram counts of everything written, if given

    def __post_init__(self):
        self.buf = np.empty(self.shard_tokens, dtype=self.dtype)
        self.fill = 0
        self.entries: list[dict] = []

    def add(self, tokens: np.ndarray) -> None:
        pos = 0
        while pos < len(tokens):
            n = min(len(tokens) - pos, self.shard_tokens - self.fill)
            self.buf[self.fill:self.fill + n] = tokens[pos:pos + n]
            self.fill += n
            pos += n
            if self.fill == self.shard_tokens:
                self.flush()

    def flush(self) -> None:
        if self.fill == 0:
            return
        name = f"{self.prefix}_{len(self.entries):06d}.bin"
        if self.counts is not None:
            self.counts += np.bincount(self.buf[:self.fill], minlength=len(self.counts))[:len(self.counts)]
        data = self.buf[:self.fill].astype(self.dtype.newbyteorder("<"), copy=False).tobytes()
        with atomic_path(self.folder / name) as tmp:
            tmp.write_bytes(data)
            crash_point("shard")
        self.entries.append(dict(path=name, split=self.prefix, tokens=int(self.fill),
                                 sha256=hashlib.sha256(data).hexdigest()))
        self.fill = 0

def write_split(plan: pa.Table, split: str, cache_tokens: np.ndarray, index: Mapping[str, tuple[int, int]],
                eos: int, writer: ShardWriter, documents: list | None = None,
                dataset: megatron.IndexedDatasetWriter | None = None) -> dict[str, int]:
    """Gather the split's rows in order from the token cache into shards; returns tokens per source.

    ``documents``, if given, receives ``[source, start, tokens]`` per row: where the document starts in
    the split (token offset over its concatenated shards) and its length, its trailing EOS included.
    ``dataset``, if given, receives every row as one Megatron sequence (the same tokens, EOS included).
    """
    rows = plan.filter(pc.equal(plan.column("split"), split)).sort_by("order")
    per_source: dict[str, int] = {}
    eos_arr = np.asarray([eos], dtype=writer.dtype)
    offset = 0
    for ids, sources, takes in _chunks(rows, 4096):
        for i, s, take in zip(ids, sources, takes):
            start, n = index[i]
            n = n if take < 0 else min(take, n)
            doc = cache_tokens[start:start + n]
            writer.add(doc)
            writer.add(eos_arr)
            if dataset is not None:
                dataset.add_document(doc, eos)
            per_source[s] = per_source.get(s, 0) + n + 1
            if documents is not None:
                documents.append([s, offset, n + 1])
            offset += n + 1
    writer.flush()
    return per_source

def _chunks(table: pa.Table, n: int):
    for off in range(0, table.num_rows, n):
        part = table.slice(off, n)
        yield part.column("id").to_pylist(), part.column("source").to_pylist(), part.column("take_tokens").to_pylist()

def entropy_nats(counts: np.ndarray) -> float:
    """Unigram entropy (nats/token) of a count vector: the loss of the best context-free model."""
    total = counts.sum()
    if total == 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log(p)).sum())

def shard_dtype(vocab_size: int) -> np.dtype:
    # uint16 holds ids < 65,536 (half the bytes of uint32, as nanoGPT); beyond that uint32
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)

def read_manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST
    return json.loads(path.read_text()) if path.exists() else None

def _shard_size_problem(folder: Path, shard: dict, width: int) -> str | None:
    """Why a manifest entry's file is not there at its size; None when it is."""
    path = folder / shard["path"]
    if not path.is_file():
        return f"{shard['path']}: missing"
    if path.stat().st_size != shard["tokens"] * width:
        return f"{shard['path']}: {path.stat().st_size:,} bytes, manifest says {shard['tokens'] * width:,}"
    return None

def manifest_problems(folder: Path, m: dict | None) -> list[str]:
    """What is wrong with a shard folder against its manifest ``m`` (``read_manifest``): missing, resized
    or altered shards and Megatron files (sha256, streamed), token counts that do not add up, and unlisted
    ``.bin`` files."""
    if m is None:
        return [f"{folder / MANIFEST} does not exist"]
    width = np.dtype(m["dtype"]).itemsize
    problems = []
    for s in m["shards"]:
        size_problem = _shard_size_problem(folder, s, width)
        if size_problem is not None:
            problems.append(size_problem)
        elif sha256_file(folder / s["path"]) != s["sha256"]:
            problems.append(f"{s['path']}: sha256 differs from the manifest")
    train = sum(s["tokens"] for s in m["shards"] if s.get("split", "train") == "train")
    if train != m["train_tokens"] or train != sum(m["sources"].values()):
        problems.append(f"train shards hold {train:,} tokens, manifest says {m['train_tokens']:,} "
                        f"({sum(m['sources'].values()):,} by source)")
    problems += megatron.file_problems(folder, m)
    listed = {s["path"] for s in m["shards"]}
    problems += [f"{p.name}: not in the manifest" for p in sorted(folder.glob("*.bin")) if p.name not in listed]
    return problems

def manifest_is_current(folder: Path, key: str) -> bool:
    """A completed folder made from the same inputs and settings, every shard present at its size."""
    m = read_manifest(folder)
    if not m or m.get("key") != key:
        return False
    width = np.dtype(m["dtype"]).itemsize
    return (all(_shard_size_problem(folder, s, width) is None for s in m["shards"])
            and not megatron.file_problems(folder, m, check_sha256=False))
