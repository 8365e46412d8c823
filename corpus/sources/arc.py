"""ARC files (the Internet Archive's format before WARC; Common Crawl published ARC until 2012), v1 and v2.

A record is one header line ``URL IP-address Archive-date Content-type [v2: result-code checksum location
offset filename] Archive-length``, then ``Archive-length`` bytes (for HTTP the response as received:
status line, headers, body), then a newline. The first record (``filedesc://``) describes the file.
Read here because neither library reads the real files: FastWARC reads WARC only, and warcio 1.8.1's
``ArchiveIterator`` stops at the second record of Common Crawl's 2008 file (its ``filedesc`` length
already covers the newline warcio expects after it, so warcio takes the next header line as that newline).

Damage is bounded the way it is for uncompressed WARC: a record is held until the line after it parses
as a header, which proves its length. Otherwise the next header line is searched for, from the record's
own block first (a length too long swallowed it), else from the record's end; the record is the damage
when its length proved wrong (a header inside its block, the file ending inside it, or other bytes right
after its last byte, with no newline between), else the bytes up to that header are. Either way one
``ArcDamage`` stretch with byte offsets, and reading goes on at the header.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import BinaryIO, Iterator

_MAX_LINE = 1 << 16
_HEADER_LINE = re.compile(
    rb"(?P<url>\S+(?: \S+)*?) (?P<ip>\S+) (?P<date>\d{14}) (?P<type>\S+)"
    rb"(?: (?P<status>\S+) (?P<checksum>\S+) (?P<location>\S+) (?P<offset>\S+) (?P<filename>\S+))? (?P<length>\d+)\r?\n")
_HTTP_STATUS = re.compile(rb"HTTP/\d(?:\.\d)? +(\d{3})")


@dataclass(frozen=True)
class ArcHeader:
    url: str
    ip: str
    date: str  # YYYYMMDDhhmmss
    content_type: str
    length: int
    offset: int  # byte of the header line in the (uncompressed) file

    @property
    def timestamp(self) -> str:
        d = self.date
        return f"{d[:4]}-{d[4:6]}-{d[6:8]}T{d[8:10]}:{d[10:12]}:{d[12:14]}Z"


@dataclass(frozen=True)
class ArcRecord:
    header: ArcHeader
    block_start: int
    block: bytes  # the first ``cap`` bytes of the record's block (all of it when it is not longer)


@dataclass(frozen=True)
class ArcDamage:
    start: int
    stop: int  # where the damage ends: the next record header, or the end of the file
    reason: str  # bad_arc_header (bytes that are no record), bad_content_length, truncated (the file ends inside it)
    record: ArcHeader | None  # the record the damage is; None for bytes that are no record
    resumes: bool  # a record header follows at ``stop``


@dataclass(frozen=True)
class HttpHead:
    status: int | None
    headers: dict[str, str]  # lowercased names; a repeated header keeps its first value
    body_start: int


def parse_header_line(line: bytes, offset: int) -> ArcHeader | None:
    found = _HEADER_LINE.fullmatch(line)
    if found is None:
        return None
    text = {k: v.decode("latin-1") for k, v in found.groupdict().items() if v is not None}
    return ArcHeader(text["url"], text["ip"], text["date"], text["type"], int(text["length"]), offset)


def parse_http_head(block: bytes) -> HttpHead | None:
    """Status and headers of an HTTP response block (``Name:value`` with or without a space); None if not HTTP."""
    if not block.startswith(b"HTTP/"):
        return None
    end = block.find(b"\r\n\r\n")
    sep = 4
    if end < 0 or block.find(b"\n\n", 0, end) >= 0:
        end, sep = block.find(b"\n\n"), 2
    if end < 0:
        end, sep = len(block), 0
    lines = block[:end].decode("latin-1").splitlines()
    status = _HTTP_STATUS.match(lines[0].encode("latin-1"))
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon and name.strip():
            headers.setdefault(name.strip().lower(), value.strip())
    return HttpHead(int(status.group(1)) if status else None, headers, end + sep)


def read_records(stream: BinaryIO, cap: int) -> Iterator[ArcRecord | ArcDamage]:
    """Every record of an ARC stream (seekable; a ``gzip.GzipFile`` is), with at most ``cap`` bytes of each block."""
    position, pending = 0, None
    while True:
        stream.seek(position)
        try:
            offset, line = _next_line(stream)
        except EOFError:  # a gzip stream cut right after the pending record: its block came out whole
            if pending is not None:
                yield pending
            raise
        header = parse_header_line(line, offset) if line else None
        if line and header is None:
            damage = _recover(stream, pending, offset, offset == position)
            if pending is not None and damage.record is None:
                yield pending  # the bytes after it are the damage: its length held
            yield damage
            if not damage.resumes:
                return
            position, pending = damage.stop, None
            continue
        if pending is not None:
            yield pending
            pending = None
        if header is None:
            return
        block_start = offset + len(line)
        record = ArcRecord(header, block_start, stream.read(min(header.length, cap)))
        end = block_start + header.length
        if len(record.block) < min(header.length, cap) or not _reaches(stream, end):
            damage = _recover(stream, record, None, True)
            yield damage
            if not damage.resumes:
                return
            position = damage.stop
            continue
        pending, position = record, end


def _recover(stream: BinaryIO, record: ArcRecord | None, failed_at: int | None, adjoins: bool) -> ArcDamage:
    """The damaged stretch. ``record`` is the damage when a header hides in its block (its length is too long),
    when the file ends inside it (``failed_at`` None), or when what follows it adjoins its last byte with no
    newline between (its length is too short); otherwise the damage is the bytes from ``failed_at`` to the
    next header."""
    if record is not None:
        inside = _find_header(stream, record.block_start, record.block_start + record.header.length)
        if inside is not None:
            return ArcDamage(record.header.offset, inside, "bad_content_length", record.header, True)
        if failed_at is None:
            return ArcDamage(record.header.offset, stream.seek(0, 2), "truncated", record.header, False)
    assert failed_at is not None
    found = _find_header(stream, failed_at, None)
    stop = stream.seek(0, 2) if found is None else found
    if record is not None and adjoins:
        return ArcDamage(record.header.offset, stop, "bad_content_length", record.header, found is not None)
    return ArcDamage(failed_at, stop, "bad_arc_header", None, found is not None)


def _next_line(stream: BinaryIO) -> tuple[int, bytes]:
    """The next line that is not blank, and its byte; ``b""`` at the end of the file."""
    while True:
        offset = stream.tell()
        line = stream.readline(_MAX_LINE)
        if line.strip() or not line:
            return offset, line


def _find_header(stream: BinaryIO, start: int, stop: int | None) -> int | None:
    """The byte of the first line at or after ``start`` (and before ``stop``) that parses as a record header."""
    stream.seek(start)
    while stop is None or stream.tell() < stop:
        offset = stream.tell()
        line = stream.readline(_MAX_LINE)
        if not line:
            return None
        if parse_header_line(line, offset) is not None:
            return offset
    return None


def _reaches(stream: BinaryIO, end: int) -> bool:
    """Whether the stream holds a byte just before ``end`` (its last block byte); leaves it at ``end``."""
    stream.seek(end - 1)
    return stream.read(1) != b""
