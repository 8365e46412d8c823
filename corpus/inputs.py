"""Where each source's raw files come from: ``CORPUS_RAW_DIR``, explicit paths/globs/URLs, or a manifest
of real public files, downloaded into a cache under the data root: by default a small slice of each real
upstream (``default_inputs.json``), or the samples' own files (``sample_inputs.json``, all pinned).

A manifest entry is pinned by size and sha256, or unpinned (both null): an unpinned entry's first download
records its size and sha256 under ``<cache>/.pins/`` and every later use is checked against that record
(trust on first use, then the same guarantees as a pin). ``CORPUS_INPUTS_MIRROR=<base URL>`` fetches
``https://<host>/<path>`` from ``<base URL>/<host>/<path>`` instead (a mirror laid out like the upstream
hosts: an internal cache, or the loopback server of the tests).

Downloads resume (HTTP Range) from a ``.part`` file, retry transient failures (5xx, a timeout or a
dropped connection) with bounded backoff, and are checked against the manifest's size and sha256 before
they are renamed into place. A host that cannot be reached (its name does not resolve, it refuses the
connection, no route to it) fails at once with ``HostUnreachable``: offline, no retry can help, and its
message says how to run on local files instead.
"""
from __future__ import annotations

import errno
import glob
import hashlib
import json
import logging
import os
import re
import socket
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable
from urllib.parse import urlsplit

from corpus.recipe import SOURCES

DEFAULT_MANIFEST = Path(__file__).with_name("default_inputs.json")
SAMPLES_MANIFEST = Path(__file__).with_name("sample_inputs.json")
MANIFEST_ENV = "CORPUS_INPUTS_MANIFEST"
MIRROR_ENV = "CORPUS_INPUTS_MIRROR"
PINS_DIR = ".pins"  # under the cache, beside (never inside) the source folders the readers scan
log = logging.getLogger(__name__)


class DownloadError(RuntimeError):
    pass


class HostUnreachable(DownloadError):
    """The host of a download cannot be reached at all; retrying cannot help."""

    def __init__(self, url: str, why: str):
        host = urlsplit(url).hostname or url
        super().__init__(
            f"cannot download {url}: host {host} is unreachable ({why}). To run on local files, set "
            "CORPUS_RAW_DIR=/path/to/raw (one folder per source: " + ", ".join(f"{s}/" for s in SOURCES) + ")"
            " or give the ingest asset local paths as `inputs`")
        self.host = host


_UNREACHABLE_ERRNOS = {errno.ENETUNREACH: "network unreachable", errno.EHOSTUNREACH: "no route to host",
                       errno.ECONNREFUSED: "connection refused"}


def _unreachable_reason(exc: BaseException) -> str | None:
    """Why a failed request can never succeed from here, or None for a failure worth a retry."""
    if isinstance(exc, urllib.error.HTTPError):
        return None
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, socket.gaierror):
        return f"its name does not resolve: {reason.strerror or reason}"
    if isinstance(reason, OSError) and reason.errno in _UNREACHABLE_ERRNOS:
        return _UNREACHABLE_ERRNOS[reason.errno]
    return None


@dataclass(frozen=True)
class ManifestEntry:
    source: str
    relpath: str  # where the file lands under <cache>/<source>/
    url: str
    size: int | None = None  # None (with sha256 None): unpinned, recorded on first download
    sha256: str | None = None
    license: str | None = None  # what the upstream declares (documentation only)


def load_manifest(path: Path = DEFAULT_MANIFEST) -> list[ManifestEntry]:
    entries = [ManifestEntry(**e) for e in json.loads(path.read_text())["files"]]
    for e in entries:
        if e.source not in SOURCES:
            raise ValueError(f"{path}: unknown source {e.source!r} (known: {', '.join(SOURCES)})")
        if Path(e.relpath).is_absolute() or ".." in Path(e.relpath).parts:
            raise ValueError(f"{path}: relpath {e.relpath!r} must stay inside the cache")
    return entries


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: Path, size: int | None = None, sha256: str | None = None, *,
             max_bytes: int = 50 << 30, retries: int = 5, backoff_s: float = 1.0, timeout_s: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest`` with resume, retries and size/checksum checks; idempotent.

    At most ``retries`` retries, ``backoff_s * (2**retries - 1)`` seconds of waiting in all; an unreachable
    host raises ``HostUnreachable`` on the first attempt."""
    if dest.exists() and (size is None or dest.stat().st_size == size) and (sha256 is None or sha256_file(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    limit = min(size if size is not None else max_bytes, max_bytes)
    for attempt in range(retries + 1):
        try:
            _fetch_resuming(url, part, limit, timeout_s)
            got = part.stat().st_size
            if size is not None and got != size:
                raise DownloadError(f"{url}: got {got} bytes, manifest says {size}")
            if sha256 is not None and (digest := sha256_file(part)) != sha256:
                part.unlink()  # a corrupt file cannot be resumed into a good one
                raise DownloadError(f"{url}: sha256 {digest} does not match the manifest's {sha256}")
            os.replace(part, dest)
            return dest
        except (urllib.error.URLError, OSError, DownloadError) as exc:
            if (why := _unreachable_reason(exc)) is not None:
                raise HostUnreachable(url, why) from None
            if isinstance(exc, urllib.error.HTTPError) and 400 <= exc.code < 500 and exc.code != 416:
                raise DownloadError(f"{url}: HTTP {exc.code}") from exc
            if attempt == retries:
                raise DownloadError(f"{url}: failed after {retries + 1} attempts: {exc}") from exc
            wait = backoff_s * 2**attempt
            log.warning("download %s failed (%s); retry %d/%d in %.1fs", url, exc, attempt + 1, retries, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def _fetch_resuming(url: str, part: Path, limit: int, timeout_s: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    if have >= limit:
        return
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        if have and response.status != 206:  # server ignored the range: start over
            have = 0
        expected = response.headers.get("Content-Length")
        with open(part, "ab" if have else "wb") as out:
            received = 0
            while block := response.read(1 << 20):
                received += len(block)
                if have + received > limit:
                    raise DownloadError(f"{url}: larger than the {limit}-byte limit")
                out.write(block)
        if expected is not None and received != int(expected):
            raise DownloadError(f"{url}: connection closed after {received} of {expected} bytes")


def mirrored_path(url: str) -> str:
    """Where a mirror keeps ``url``: ``<host>/<path>``."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"


def mirrored(url: str) -> str:
    """``url`` as fetched: from ``$CORPUS_INPUTS_MIRROR/<host>/<path>`` when that is set."""
    base = os.environ.get(MIRROR_ENV)
    return f"{base.rstrip('/')}/{mirrored_path(url)}" if base else url


def pin_path(entry: ManifestEntry, cache: Path) -> Path:
    return cache / PINS_DIR / entry.source / f"{entry.relpath}.json"


def fetch_entry(entry: ManifestEntry, cache: Path) -> Path:
    """Download one entry into ``<cache>/<source>/<relpath>``, checked against its pin: the manifest's, or
    for an unpinned entry the record of its first download (written here when there is none yet)."""
    dest = cache / entry.source / entry.relpath
    size, sha256 = entry.size, entry.sha256
    pin = pin_path(entry, cache)
    unpinned = size is None and sha256 is None
    if unpinned and pin.is_file():
        recorded = json.loads(pin.read_text())
        if recorded["url"] != entry.url:
            raise DownloadError(f"{pin} records {recorded['url']}, the manifest now says {entry.url}: delete the "
                                "record (and the cached file) to accept the new URL")
        size, sha256 = recorded["size"], recorded["sha256"]
    try:
        download(mirrored(entry.url), dest, size, sha256)
    except DownloadError as exc:
        if unpinned and pin.is_file() and not isinstance(exc, HostUnreachable):
            raise DownloadError(f"{exc} (recorded by its first download in {pin}: if the upstream file changed, "
                                "delete that record to accept the new one)") from exc
        raise
    if unpinned and not pin.is_file():
        pin.parent.mkdir(parents=True, exist_ok=True)
        tmp = pin.with_name(pin.name + ".tmp")
        tmp.write_text(json.dumps({"url": entry.url, "size": dest.stat().st_size, "sha256": sha256_file(dest),
                                   "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=1))
        os.replace(tmp, pin)
    return dest


def fetch_manifest(entries: Iterable[ManifestEntry], cache: Path, sources: Iterable[str] | None = None) -> None:
    wanted = set(sources) if sources is not None else None
    for e in entries:
        if wanted is None or e.source in wanted:
            fetch_entry(e, cache)


def missing_from_cache(entries: Iterable[ManifestEntry], cache: Path) -> list[ManifestEntry]:
    """The entries a run would still have to download (absent, or not of the manifest's size)."""
    def cached(e: ManifestEntry) -> bool:
        path = cache / e.source / e.relpath
        return path.is_file() and (e.size is None or path.stat().st_size == e.size)
    return [e for e in entries if not cached(e)]


def check_hosts_reachable(urls: Iterable[str], timeout_s: float = 10.0) -> None:
    """One HEAD request per host (to its first URL): ``HostUnreachable`` for a host that cannot be reached.
    Any other outcome (an answer, an error status, a timeout) is left to the downloads and their retries."""
    seen: set[str | None] = set()
    for url in urls:
        host = urlsplit(url).hostname
        if host in seen:
            continue
        seen.add(host)
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout_s).close()
        except (urllib.error.URLError, OSError) as exc:
            if (why := _unreachable_reason(exc)) is not None:
                raise HostUnreachable(url, why) from None


def source_root(source: str, raw: Path | None, cache: Path, manifest: Path = DEFAULT_MANIFEST) -> Path:
    """The folder a source's reader scans: ``$CORPUS_RAW_DIR/<source>`` or the downloaded cache."""
    if raw is not None:
        return raw / source
    fetch_manifest(load_manifest(manifest), cache, [source])
    return cache / source


def expand_paths(specs: Iterable[str], cache: Path) -> list[Path]:
    """Explicit inputs: local paths, globs, or http(s) URLs (downloaded into ``cache``)."""
    out: list[Path] = []
    for spec in specs:
        if re.match(r"https?://", spec):
            out.append(download(spec, cache / "urls" / path_key(spec.split("://", 1)[1])))
        elif any(ch in spec for ch in "*?["):
            out.extend(Path(p) for p in sorted(glob.glob(spec, recursive=True)))
        else:
            out.append(Path(spec))
    missing = [str(p) for p in out if not p.exists()]
    if missing:
        raise FileNotFoundError(f"input(s) not found: {', '.join(missing)}")
    return out


# A path component that part names keep as it is: "/" becomes "__", so a kept component has no two
# underscores in a row and none at either end (Common Crawl's paths, the partition keys in the docs). It
# starts with a letter or digit: readers of Parquet folders (pyarrow datasets, Spark, Hive) skip files whose
# names start with "_" or ".", so no part name may.
ORDINARY_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*(?:_[A-Za-z0-9.-]+)*$")
PATH_SEPARATOR = "__"
ESCAPED_MARK = "="  # leads an escaped name; never in an ordinary one
_ESCAPE = "_"
_LITERAL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")


def path_key(relpath: str) -> str:
    """An injective, key-safe name (``[A-Za-z0-9._=-]``, never starting with ``_`` or ``.``) for a
    relative POSIX path.

    An ordinary path (every component matches ``ORDINARY_COMPONENT``) keeps its readable name, the
    components joined by ``__``: such a name starts with a letter or digit and maps back by ``__`` -> ``/``.
    Any other path (``a__b``, ``x y``, ``_x``) is escaped: ``=``, then the path's UTF-8 bytes with
    ``/`` -> ``__`` and every byte outside ``[A-Za-z0-9.-]`` (``_`` included) -> ``_`` + two hex
    digits. The leading ``=`` tells the two forms apart and the escape code is prefix-free, so no
    two paths share a name (``a/b`` -> ``a__b``, ``a__b`` -> ``=a_5f_5fb``, ``x_y`` -> ``x_y``,
    ``x y`` -> ``=x_20y``)."""
    components = relpath.split("/")
    if all(ORDINARY_COMPONENT.match(c) for c in components):
        return PATH_SEPARATOR.join(components)
    return ESCAPED_MARK + PATH_SEPARATOR.join(_escape(c) for c in components)


def _escape(component: str) -> str:
    raw = component.encode("utf-8", "surrogateescape")  # a file name that is not UTF-8: its own bytes
    return "".join(chr(b) if b in _LITERAL else f"{_ESCAPE}{b:02x}" for b in raw)


_ESCAPED_BYTE = re.compile(f"{_ESCAPE}([0-9a-f]{{2}})")


def key_path(key: str) -> str:
    """The relative POSIX path whose ``path_key`` is ``key`` (its inverse); ValueError when no path's is."""
    if key.startswith(ESCAPED_MARK):
        pieces = _ESCAPED_BYTE.split(key.removeprefix(ESCAPED_MARK).replace(PATH_SEPARATOR, "/"))
        # split keeps the hex digits of each escape at the odd positions, the literal text at the even ones
        raw = b"".join(bytes.fromhex(p) if i % 2 else p.encode("ascii", "replace") for i, p in enumerate(pieces))
        relpath = raw.decode("utf-8", "surrogateescape")
    else:
        relpath = key.replace(PATH_SEPARATOR, "/")
    if path_key(relpath) != key:
        raise ValueError(f"{key!r} is not the part name of any path")
    return relpath


def part_name(root: Path, path: Path) -> str:
    """The part name of an input under a source root: ``path_key`` of its path relative to the root."""
    return path_key(path.relative_to(root).as_posix())


def explicit_input_units(paths: Iterable[Path]) -> list[tuple[str, Path]]:
    """(part name, path) of explicitly given inputs, in path order; the same path given twice is one unit.

    Each is named by the shortest tail of its absolute path that no other input ends with: its file
    name unless two inputs share it (``a/part-0000.json.gz`` and ``b/part-0000.json.gz`` ->
    ``a__part-0000.json.gz`` and ``b__part-0000.json.gz``). Tails that belong to one input only are
    distinct, and ``path_key`` is injective, so no two inputs write the same part."""
    unique = sorted({Path(os.path.abspath(p)) for p in paths})
    tails = Counter(p.parts[-k:] for p in unique for k in range(1, len(p.parts) + 1))
    units = []
    for p in unique:
        tail = next(p.parts[-k:] for k in range(1, len(p.parts) + 1) if tails[p.parts[-k:]] == 1)
        units.append((path_key(PurePosixPath(*tail).as_posix()), p))
    return units
