"""Common Crawl snapshots and raw-folder listings: the pure logic behind the sensors and the partitions.

- ``collinfo.json`` (Common Crawl's list of crawls, newest first) gives snapshot ids such as
  ``CC-MAIN-2024-10``; a snapshot's ``wet.paths.gz`` lists its WET files, one path per line, relative to
  the data host (``crawl-data/CC-MAIN-2024-10/segments/<segment>/wet/<file>.warc.wet.gz``).
- A file's *partition key* is its path under the commoncrawl source root, made key-safe the same way
  ``corpus.inputs.part_name`` names parts (``/`` -> ``__``; a path with other characters, such as the
  British Library's ``...-32090~opera~8443.warc.gz``, escaped behind ``=``). So the partition key **is** the
  part name that the unpartitioned ``commoncrawl_documents`` asset gives the same file: a partition backfill
  and the unpartitioned asset write, fingerprint and skip the very same part. The key maps back to its path
  (``corpus.inputs.key_path``, the exact inverse) and URL instead of being guessed.
- A part's *snapshot* (``part_snapshot``) is the first component of its path that is a snapshot id
  (``CC-MAIN-2024-10/segments/...`` or ``crawl-data/CC-MAIN-2024-10/...``); a part whose path names
  none belongs to ``LOCAL``. Snapshots are the unit of Common Crawl work (CCNet): line-dedup groups and
  perplexity cut-offs never span two, and "first copy" means first in ``snapshot_order`` (``LOCAL``,
  then the crawls oldest first), so adding a newer snapshot changes none of the earlier ones' parts.
- A folder listing (relative path, size, mtime) and its hash are the raw-folder sensor's cursor.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

from corpus.inputs import ESCAPED_MARK, PATH_SEPARATOR as SEPARATOR, key_path, path_key

COLLINFO_URL = "https://index.commoncrawl.org/collinfo.json"
DATA_URL = "https://data.commoncrawl.org"
PATHS_PREFIX = "crawl-data/"  # every path in a *.paths.gz listing starts with it
SNAPSHOT_ID = re.compile(r"^CC-MAIN-\d{4}-\d{2}$")
LOCAL = "local"  # the snapshot of parts whose path names no Common Crawl snapshot
_DAGSTER_INVALID = ("...",)  # Dagster refuses partition keys containing these (path_key escapes control chars)
FETCH_TIMEOUT_S = 60.0


class ListingError(ValueError):
    """A collinfo.json or *.paths.gz listing that does not look like Common Crawl's."""


@dataclass(frozen=True)
class Snapshot:
    id: str
    name: str = ""


def parse_collinfo(text: str | bytes) -> list[Snapshot]:
    """Snapshots in a collinfo.json listing, in the listing's order (Common Crawl's: newest first)."""
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ListingError(f"collinfo listing is not JSON: {exc}") from exc
    if not isinstance(entries, list):
        raise ListingError("collinfo listing must be a JSON list of crawls")
    out, seen = [], set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ListingError(f"collinfo entry {i} has no string 'id': {entry!r}")
        if not SNAPSHOT_ID.match(entry["id"]):
            continue  # older ARC-era crawls (CC-MAIN-2008-2009 ...) have no WET files
        if entry["id"] not in seen:
            seen.add(entry["id"])
            out.append(Snapshot(entry["id"], str(entry.get("name", ""))))
    return out


def new_snapshots(listed: Sequence[str], known: Iterable[str] | None, initial: int = 1) -> list[str]:
    """Snapshot ids to register, oldest first.

    ``known`` is None on a sensor's first evaluation: then only the ``initial`` newest snapshots are
    taken (not the whole history of Common Crawl); afterwards, every listed id not yet known.
    """
    if known is None:
        chosen = sorted(listed, reverse=True)[:max(initial, 0)]
    else:
        seen = set(known)
        chosen = [s for s in listed if s not in seen]
    return sorted(set(chosen))


def wet_paths_url(data_url: str, snapshot: str) -> str:
    if not SNAPSHOT_ID.match(snapshot):
        raise ListingError(f"not a snapshot id: {snapshot!r}")
    return f"{data_url.rstrip('/')}/{PATHS_PREFIX}{snapshot}/wet.paths.gz"


def parse_paths(data: bytes, snapshot: str, limit: int | None = None) -> list[str]:
    """File paths of a ``wet.paths.gz`` (gzip or plain text), relative to ``crawl-data/``, in listing order.

    Every path must belong to ``snapshot``; ``limit`` keeps the first ``limit`` files (demos, tests).
    """
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    out = []
    for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if not line.startswith(f"{PATHS_PREFIX}{snapshot}/"):
            raise ListingError(f"line {n}: {line!r} is not a file of {snapshot}")
        relpath = line.removeprefix(PATHS_PREFIX)
        partition_key(relpath)  # raises on a path that would not map back
        out.append(relpath)
        if limit is not None and len(out) >= limit:
            break
    return out


def partition_key(relpath: str) -> str:
    """The partition key of a file at ``relpath`` under the source root: its part name (``path_key``: an
    odd file name, ``a~b.warc.gz``, is escaped, ``=a_7eb.warc.gz``), which ``relpath_for_key`` maps back."""
    _check_relpath(relpath)
    key = path_key(relpath)
    if any(s in key for s in _DAGSTER_INVALID):
        raise ListingError(f"{relpath!r}: key {key!r} contains a substring Dagster refuses")
    return key


def relpath_for_key(key: str) -> str:
    """Inverse of ``partition_key``: the path under the source root a key names (never outside it)."""
    try:
        relpath = key_path(key)
    except ValueError:
        raise ListingError(f"partition key {key!r} does not name a file path") from None
    _check_relpath(relpath)
    return relpath


def _check_relpath(relpath: str) -> None:
    """A path under the source root: relative, no empty, ``.`` or ``..`` component."""
    if relpath.startswith("/") or any(c in ("", ".", "..") for c in relpath.split("/")):
        raise ListingError(f"{relpath!r} is not a file path under the source root")


def file_url(data_url: str, relpath: str) -> str:
    return f"{data_url.rstrip('/')}/{PATHS_PREFIX}{urllib.parse.quote(relpath)}"


def snapshot_of(relpath: str) -> str | None:
    first = PurePosixPath(relpath).parts[0]
    return first if SNAPSHOT_ID.match(first) else None


def part_snapshot(part: str) -> str:
    """The snapshot of a part (its name, with or without ``.parquet``): the first path component that is
    a snapshot id, else ``LOCAL``."""
    components = part.removesuffix(".parquet").removeprefix(ESCAPED_MARK).split(SEPARATOR)
    return next((c for c in components if SNAPSHOT_ID.match(c)), LOCAL)


def snapshot_order(snapshot: str) -> tuple[bool, str]:
    """Sort key of snapshots: ``LOCAL`` first, then the crawls oldest first (their ids sort by date)."""
    return snapshot != LOCAL, snapshot


def by_snapshot(parts: Iterable[Path]) -> dict[str, list[Path]]:
    """Part paths grouped by snapshot, in ``snapshot_order``; each snapshot's parts keep their order."""
    out: dict[str, list[Path]] = {}
    for path in parts:
        out.setdefault(part_snapshot(path.name), []).append(path)
    return {s: out[s] for s in sorted(out, key=snapshot_order)}


def fetch(url: str, timeout_s: float = FETCH_TIMEOUT_S, max_bytes: int = 64 << 20) -> bytes:
    """A small listing over http(s) or from a local path / file:// URL."""
    if not re.match(r"^[a-z]+://", url) or url.startswith("file://"):
        return Path(url.removeprefix("file://")).read_bytes()
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        data = response.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ListingError(f"{url}: listing larger than {max_bytes} bytes")
    return data


# --- raw folder listings (the CORPUS_RAW_DIR sensor) ---------------------------------------------

@dataclass(frozen=True, order=True)
class Entry:
    path: str  # relative, POSIX
    size: int
    mtime_ns: int


def folder_listing(root: Path, ignore_suffixes: tuple[str, ...] = (".part",)) -> list[Entry]:
    """Every file under ``root`` (sorted); downloads in progress (``.part``) are ignored."""
    if not root.is_dir():
        return []
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            if name.startswith(".") or name.endswith(ignore_suffixes):
                continue
            p = Path(dirpath) / name
            st = p.stat()
            out.append(Entry(p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
    return sorted(out)


def listing_hash(entries: Iterable[Entry]) -> str:
    h = hashlib.sha256()
    for e in sorted(entries):
        h.update(f"{e.path}\0{e.size}\0{e.mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def newest_mtime_ns(entries: Iterable[Entry]) -> int:
    return max((e.mtime_ns for e in entries), default=0)
