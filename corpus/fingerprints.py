"""Fingerprints: of settings and inputs (``fingerprint``, the key a part's footer holds it under), and the
content fingerprints of raw input files, cached by (path, size, mtime_ns).

A rerun over unchanged inputs must not re-read them: at Common Crawl scale that is terabytes per no-op
rerun. The cache is one SQLite table under the local work dir (every write its own transaction, so a
killed run leaves it whole; WAL, so parallel steps share it). A file whose size or mtime changed is read
again; so is one modified within the last ``RACY_S`` seconds (a write in the same clock tick as our read
would not change its mtime), and one that changed while it was being read is not cached. Losing the
cache only costs re-reading.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import xxhash

BLOCK = 1 << 22
RACY_S = 2.0
# the footer key of a part's (or side table's) fingerprint: inputs + settings + code; equal means current
FINGERPRINT_KEY = b"corpus.fingerprint"


def fingerprint(*parts: Any) -> str:
    """A short content hash of JSON-serialisable settings and input descriptions."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def file_digest(path: Path) -> str:
    """xxh3-128 of a file's bytes."""
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            h.update(block)
    return h.hexdigest()


class FingerprintCache:
    """``digest(path)``: ``file_digest`` of a file, from the cache when its size and mtime are unchanged."""

    def __init__(self, db: Path):
        db.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(db, timeout=60, isolation_level=None)  # autocommit: each write is atomic
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, "
                          "mtime_ns INTEGER NOT NULL, digest TEXT NOT NULL)")

    def __enter__(self) -> FingerprintCache:
        return self

    def __exit__(self, *exc) -> None:
        self._con.close()

    def digest(self, path: Path) -> str:
        key, before = str(path.resolve()), path.stat()
        row = self._con.execute("SELECT digest FROM files WHERE path = ? AND size = ? AND mtime_ns = ?",
                                (key, before.st_size, before.st_mtime_ns)).fetchone()
        if row is not None:
            return row[0]
        digest = file_digest(path)
        after = path.stat()
        unchanged = (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
        if unchanged and after.st_mtime_ns < (time.time() - RACY_S) * 1e9:
            self._con.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                              (key, after.st_size, after.st_mtime_ns, digest))
        return digest


def content_fingerprint(path: Path, cache: FingerprintCache) -> str:
    """A file's digest, or for a folder the xxh3 of every file under it (relative path + digest, sorted)."""
    if path.is_file():
        return cache.digest(path)
    h = xxhash.xxh3_128()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()):
        h.update(f.relative_to(path).as_posix().encode() + b"\0" + cache.digest(f).encode())
    return h.hexdigest()
