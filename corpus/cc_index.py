"""Common Crawl's URL index and its WARC records fetched by byte range: the pages Wikipedia cites, as
Common Crawl fetched them (how RedPajama v1 got LLaMA's "pages used as references in Wikipedia",
without re-crawling them).

The columnar index is Parquet with (at least) ``url``, ``warc_filename``, ``warc_record_offset``,
``warc_record_length`` and ``fetch_status`` (Common Crawl's ``cc-index/table/cc-main/warc/crawl=.../
subset=warc/*.parquet``). ``index`` names it as local paths or globs, ``s3://`` URIs (read in place
through pyarrow's filesystem, DuckDB reading only the row groups and columns it needs) or http(s) URLs
(downloaded once into the cache by ``corpus.inputs.download``: resume, retries, size check). DuckDB
joins it with every http/https and ``www.`` variant of the wanted URLs and keeps one HTTP-200 capture per
URL. Each hit is one gzip member of a WARC file: fetched with an HTTP Range request from
``warc_base`` + ``warc_filename`` (or read at its offset when ``warc_base`` is a local folder), cached
under a name derived from (file, offset, length), and read by the project's Common Crawl reader, so a
cited page is extracted exactly as any crawled page is.

Offline, the first request fails within seconds with a message naming the host (no retries on a DNS
failure or a refused connection).
"""
from __future__ import annotations

import glob
import json
import os
import socket
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa
import xxhash

from corpus.inputs import download
from corpus.schema import Drop
from corpus.sources import commoncrawl

STAGE = "wikiref_positives"
INDEX_COLUMNS = ("url", "warc_filename", "warc_record_offset", "warc_record_length", "fetch_status")
CONNECT_TIMEOUT_S = 10.0


class IndexUnreachable(RuntimeError):
    """The index or WARC host cannot be reached at all (DNS failure, refused connection, timeout)."""


@dataclass(frozen=True)
class IndexHit:
    key: str  # the wanted (normalised) URL
    url: str  # the URL as Common Crawl fetched it
    warc_filename: str
    offset: int
    length: int

    @property
    def locator(self) -> str:
        return f"{self.warc_filename}@{self.offset}"


def url_variants(key: str) -> list[str]:
    """The URLs Common Crawl may have stored for a normalised ``host/path?query`` (see
    ``quality_models.wikiref.normalize_url``): http and https, with and without ``www.``, with and
    without a trailing ``/`` on the path."""
    host, slash, rest = key.partition("/")
    path, qmark, query = rest.partition("?")
    paths = {f"/{path}", f"/{path}/"} if path else {"/"}
    tail = f"?{query}" if qmark else ""
    return sorted(f"{scheme}://{h}{p}{tail}" for scheme in ("http", "https") for h in (host, f"www.{host}")
                  for p in paths)


def _unreachable(url: str, exc: BaseException) -> IndexUnreachable:
    host = urlsplit(url).hostname
    return IndexUnreachable(
        f"{host} cannot be reached ({exc}) for {url}. The Wikipedia-reference positives need Common Crawl's URL "
        f"index and WARC files: point `cc_index`/`warc_base` of wikiref_classifier at a reachable mirror or local "
        f"files, or set `cc_index: []` to use only cited pages already present in the inputs")


def check_reachable(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """One TCP connection to ``url``'s host: fails fast, naming the host, when it is offline."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout_s).close()
    except OSError as exc:
        raise _unreachable(url, exc) from exc


def index_files(specs: Iterable[str], cache: Path) -> tuple[list[str], Any]:
    """(paths DuckDB reads, an fsspec filesystem to register for them or None)."""
    local, remote, fs = [], [], None
    for spec in specs:
        if spec.startswith(("http://", "https://")):
            check_reachable(spec)
            name = xxhash.xxh3_64_hexdigest(spec.encode()) + "-" + Path(urlsplit(spec).path).name
            local.append(str(download(spec, cache / "index" / name)))
        elif spec.startswith("s3://"):
            import pyarrow.fs
            from fsspec.implementations.arrow import ArrowFSWrapper

            arrow_fs, path = pyarrow.fs.FileSystem.from_uri(spec)
            fs = fs or ArrowFSWrapper(arrow_fs)
            remote += [f"s3://{p}" for p in (fs.glob(path) if any(c in path for c in "*?[") else [path])]
        else:
            found = sorted(glob.glob(spec)) if any(c in spec for c in "*?[") else [spec]
            local += [p for p in found if Path(p).is_file()] or [spec]
    missing = [p for p in local if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"Common Crawl index file(s) not found: {', '.join(missing)}")
    return local + remote, fs


def lookup(keys: Mapping[str, int], specs: Iterable[str], cache: Path, max_pages: int,
           memory_limit: str = "1GB") -> list[IndexHit]:
    """Index hits for the wanted URLs (``{normalised url: priority}``): one HTTP-200 capture per URL
    (the first by file and offset), the ``max_pages`` of lowest priority, in priority order."""
    files, fs = index_files(specs, cache)
    if not keys or not files or max_pages <= 0:
        return []
    pairs = [(v, k, p) for k, p in keys.items() for v in url_variants(k)]
    wanted = pa.table([pa.array([v for v, _, _ in pairs], pa.string()), pa.array([k for _, k, _ in pairs], pa.string()),
                       pa.array([p for _, _, p in pairs], pa.uint64())], names=["variant", "key", "priority"])
    con = duckdb.connect(":memory:", config={"memory_limit": memory_limit, "threads": 1})
    try:
        if fs is not None:
            con.register_filesystem(fs)
        con.register("wanted", wanted)
        rows = con.execute(f"""
            SELECT w.key, i.url, i.warc_filename, i.warc_record_offset, i.warc_record_length
            FROM read_parquet(?, union_by_name = true) i JOIN wanted w ON i.url = w.variant
            WHERE i.fetch_status = 200
            QUALIFY row_number() OVER (PARTITION BY w.key ORDER BY i.warc_filename, i.warc_record_offset) = 1
            ORDER BY w.priority, w.key LIMIT {int(max_pages)}""", [files]).fetchall()
    except duckdb.BinderException as exc:
        raise ValueError(f"{files[0]}: not a Common Crawl columnar index (needs {', '.join(INDEX_COLUMNS)}): "
                         f"{exc}") from exc
    finally:
        con.close()
    return [IndexHit(key, url, name, int(offset), int(length)) for key, url, name, offset, length in rows]


def fetch_record(hit: IndexHit, warc_base: str, cache: Path, timeout_s: float = 60.0) -> Path:
    """The hit's WARC record (one gzip member), by Range request; cached, written temp + rename."""
    digest = xxhash.xxh3_128_hexdigest(f"{hit.locator}+{hit.length}".encode())
    dest = cache / "records" / f"{digest}.warc.gz"
    if dest.is_file() and dest.stat().st_size == hit.length:
        return dest
    url = warc_base.rstrip("/") + "/" + hit.warc_filename.lstrip("/")
    if not url.startswith(("http://", "https://")):  # WARC files on a local disk
        with open(url, "rb") as f:
            f.seek(hit.offset)
            data = f.read(hit.length)
    else:
        request = urllib.request.Request(url, headers={"Range": f"bytes={hit.offset}-{hit.offset + hit.length - 1}"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                if response.status != 206:
                    raise ValueError(f"{url}: HTTP {response.status} to a Range request (206 expected)")
                data = response.read(hit.length + 1)
        except urllib.error.URLError as exc:
            if isinstance(exc, urllib.error.HTTPError):
                raise  # the server answered: this record only
            raise _unreachable(url, exc.reason) from exc
    if len(data) != hit.length:
        raise ValueError(f"{url}: {len(data)} bytes for a {hit.length}-byte record at offset {hit.offset}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.write_bytes(data)
    os.replace(tmp, dest)
    return dest


def cited_pages(hits: Iterable[IndexHit], warc_base: str, cache: Path) -> Iterator[dict[str, Any] | Drop]:
    """Each hit's page through the project's Common Crawl reader (``meta.cited_url`` = the wanted URL);
    a record the server does not have, that is not what the index says or whose transfer times out or is
    cut becomes a counted Drop (an unreachable host is an ``IndexUnreachable`` before the first record)."""
    if warc_base.startswith(("http://", "https://")):
        check_reachable(warc_base)
    for hit in hits:
        try:
            path = fetch_record(hit, warc_base, cache)
        except (urllib.error.HTTPError, ValueError, FileNotFoundError, TimeoutError, ConnectionResetError) as exc:
            yield Drop.at(commoncrawl.SOURCE, hit.locator, STAGE, "fetch_failed", f"{hit.url}: {exc}")
            continue
        for record in commoncrawl.read_documents(path, hit.locator):
            if isinstance(record, dict):
                record["meta"] = _with_cited_url(record["meta"], hit.key)
            yield record


def _with_cited_url(meta: str | None, key: str) -> str:
    return json.dumps({**(json.loads(meta) if meta else {}), "cited_url": key})
