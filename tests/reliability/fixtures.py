"""Builders for hostile inputs: each starts from a real file in ../shared/samples (or a real writer:
gzip, bz2, tarfile, py7zr) and damages it in one precise way. Nothing here is copied into the repo;
everything is written under a test's tmp folder."""
from __future__ import annotations

import bz2
import gzip
import io
import os
import re
import tarfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Iterable

import psutil

from corpus.schema import Drop

C4_SAMPLE = "c4/c4-sample.01.json.gz"
WIKI_SAMPLE = "wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
WARC_SAMPLE = "commoncrawl/cc-main-2020-34_resiliparse/warcfile.warc.gz"
BOOK_SAMPLE = "books/slavaburdun__Diploma/pg42671.txt"
SE_NAME = "conlang.meta.stackexchange.com"
SE_SITE = f"stackexchange/{SE_NAME}"
ARXIV_PAPER = "arxiv/astropy-v2.0"


def split(records: Iterable[Any]) -> tuple[list[dict], list[Drop]]:
    records = list(records)
    assert all(isinstance(r, (dict, Drop)) for r in records), records
    return [r for r in records if isinstance(r, dict)], [r for r in records if isinstance(r, Drop)]


def reasons(drops: list[Drop]) -> list[str]:
    return sorted(d.reason for d in drops)


# --- C4 -----------------------------------------------------------------------------------------

def c4_lines(samples: Path) -> list[bytes]:
    """The real C4 sample's JSON lines (each ends with a newline)."""
    return gzip.decompress((samples / C4_SAMPLE).read_bytes()).splitlines(keepends=True)


def gzip_members(lines: list[bytes], per_member: int = 1) -> bytes:
    """Lines as a multi-member gzip (one member per ``per_member`` lines), as real writers append."""
    out = io.BytesIO()
    for i in range(0, len(lines), per_member):
        out.write(gzip.compress(b"".join(lines[i:i + per_member]), mtime=0))
    return out.getvalue()


def complete_lines_in_prefix(compressed: bytes) -> int:
    """Oracle independent of the reader: how many whole lines a (possibly cut) gzip stream decodes to."""
    data = b""
    rest = compressed
    while rest:
        z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            data += z.decompress(rest)
        except zlib.error:
            break
        if not z.eof:
            break
        rest = z.unused_data
    return data.count(b"\n")


# --- Wikipedia ----------------------------------------------------------------------------------

def wiki_xml(samples: Path, pages: int) -> tuple[bytes, list[bytes], bytes]:
    """The real enwiki sample cut to its first ``pages`` articles (namespace 0, not redirects), each under
    40 kB to keep the cases fast: (head up to the first page, the page elements, the closing tag)."""
    raw = bz2.decompress((samples / WIKI_SAMPLE).read_bytes())
    first = raw.index(b"  <page>")
    head, body = raw[:first], raw[first:]
    chunks = []
    for m in re.finditer(rb"  <page>.*?</page>\n", body, re.DOTALL):
        page = m.group(0)
        if b"<ns>0</ns>" not in page or b"<redirect" in page or len(page) > 40_000:
            continue
        chunks.append(page)
        if len(chunks) == pages:
            break
    return head, chunks, b"</mediawiki>\n"


# --- Common Crawl -------------------------------------------------------------------------------

def warc_records(samples: Path) -> list[bytes]:
    """The real WARC's records, one per gzip member, uncompressed (headers + payload + CRLFCRLF)."""
    rest = (samples / WARC_SAMPLE).read_bytes()
    records = []
    while rest:
        z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        records.append(z.decompress(rest))
        rest = z.unused_data
    return records


def record_id(record: bytes) -> str:
    return re.search(rb"WARC-Record-ID: (<[^>]+>)", record).group(1).decode()


def record_type(record: bytes) -> str:
    return re.search(rb"WARC-Type: (\S+)", record).group(1).decode()


def set_content_length(record: bytes, value: int) -> bytes:
    return re.sub(rb"Content-Length: \d+\r\n", b"Content-Length: %d\r\n" % value, record, count=1)


def replace_http_payload(record: bytes, content_type: bytes, payload: bytes) -> bytes:
    """A response record with its HTTP body and Content-Type replaced, WARC Content-Length fixed."""
    head, _, block = record.partition(b"\r\n\r\n")
    http_head, _, _ = block.partition(b"\r\n\r\n")
    http_head = re.sub(rb"(?im)^content-type:[^\r\n]*", b"Content-Type: " + content_type, http_head)
    http_head = re.sub(rb"(?im)^content-length:[^\r\n]*", b"Content-Length: %d" % len(payload), http_head)
    http_head = re.sub(rb"(?im)^(content-encoding|transfer-encoding):[^\r\n]*\r\n", b"", http_head)
    new_block = http_head + b"\r\n\r\n" + payload
    return set_content_length(head + b"\r\n\r\n", len(new_block)) + new_block + b"\r\n\r\n"


def warc_gz(records: list[bytes]) -> bytes:
    return b"".join(gzip.compress(r, mtime=0) for r in records)


# --- tar ----------------------------------------------------------------------------------------

def add_bytes(tar: tarfile.TarFile, name: str, data: bytes, **attrs: Any) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    for k, v in attrs.items():
        setattr(info, k, v)
    tar.addfile(info, io.BytesIO(data))


def add_link(tar: tarfile.TarFile, name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    tar.addfile(info)


# --- memory -------------------------------------------------------------------------------------

class PeakRss:
    """Peak resident memory growth of this process while the block runs (sampled every 5 ms)."""

    def __enter__(self) -> "PeakRss":
        self.proc = psutil.Process(os.getpid())
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc: Any) -> None:
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 2**20
