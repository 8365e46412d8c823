"""Common Crawl WET (``.warc.wet.gz``) and WARC (``.warc.gz``) files; WAT files are metadata and skipped.

WARC records are parsed by FastWARC (streaming, maintained with Resiliparse). HTML responses go
through Resiliparse: charset from the HTTP header, else the page's ``<meta>``, else byte-level
detection; main text by ``extract_plain_text(main_content=True)``. Resiliparse was chosen over
trafilatura because it is a C++ extractor ~10x faster on CC-sized input, ships the charset detector
we need, and is maintained together with FastWARC (trafilatura is also not installed here).

Common Crawl gzips every record as its own member, so a ``.gz`` file is read member by member: a
record whose Content-Length is wrong, or whose member is cut short, is quarantined and the next
member starts clean. An uncompressed file has no such seams: after a damaged stretch (a wrong
Content-Length, bytes that are no record, a cut header) reading resumes at the next line that starts a
WARC header, and the stretch is one quarantined Drop. CCNet's 300-character minimum is applied to both
formats.
"""
from __future__ import annotations

import codecs
import io
import re
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Generator, Iterator

from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import detect_encoding, map_encoding_to_html5
from resiliparse.parse.html import HTMLTree

from corpus.recipe import CCNET_MIN_DOC_CHARS
from corpus.schema import Drop, new_document

SOURCE = "commoncrawl"
STAGE = "ingest"
SUFFIXES = (".warc", ".warc.gz", ".warc.wet", ".warc.wet.gz", ".wet", ".wet.gz")
METADATA_SUFFIXES = (".warc.wat", ".warc.wat.gz", ".wat", ".wat.gz")  # JSON metadata, no page text
DEFAULT_MAX_DOC_BYTES = 16 << 20
HTML_TYPES = ("text/html", "application/xhtml+xml")
SNAPSHOT = re.compile(r"cc-main-\d{4}-\d{2}", re.IGNORECASE)
ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # bytes that surrogateescape kept aside
_INFLATE_STEP = 1 << 20  # decompressed bytes per step: bounds memory on a gzip bomb
_SCAN_STEP = 1 << 16  # bytes per read when an uncompressed file is searched for a record boundary
HEADER_END = re.compile(rb"\r\n\r\n")
RECORD_START = re.compile(rb"\nWARC/1\.[01]\r\n[!-9;-~]{1,256}:")  # a version line, then a header field
_SCAN_OVERLAP = 300  # longer than any match of the two patterns above, so none is split between reads


def discover_inputs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES)
                  and not p.name.lower().endswith(METADATA_SUFFIXES))


def read_documents(path: Path, name: str, max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES,
                   min_doc_chars: int = CCNET_MIN_DOC_CHARS, main_content: bool = True) -> Iterator[dict[str, Any] | Drop]:
    reader = _WarcFileReader(path, name, max_doc_bytes, min_doc_chars, main_content)
    with open(path, "rb") as raw:
        if path.name.lower().endswith(".gz"):
            yield from reader.members(raw)
        else:
            yield from reader.plain(raw)


class _GzipMember(io.RawIOBase):
    """One gzip member as a stream that ends where the member ends; remembers a cut or corrupt member."""

    def __init__(self, raw: BinaryIO, carry: bytes):
        self.raw, self.carry = raw, carry
        self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.out = b""
        self.position = 0
        self.truncated = False
        self.error: zlib.error | None = None

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Only the no-op seeks FastWARC makes to learn the position; a member cannot rewind."""
        target = offset if whence == io.SEEK_SET else self.position + offset if whence == io.SEEK_CUR else -1
        if target != self.position:
            raise io.UnsupportedOperation("a gzip member stream only reads forward")
        return self.position

    def readinto(self, buffer) -> int:
        while not self.out and not self.inflater.eof and not self.truncated and self.error is None:
            data = self.inflater.unconsumed_tail or self.carry or self.raw.read(1 << 16)
            self.carry = b""
            if not data:
                self.truncated = True
                break
            try:
                self.out = self.inflater.decompress(data, _INFLATE_STEP)
            except zlib.error as exc:
                self.error = exc
        n = min(len(buffer), len(self.out))
        buffer[:n] = self.out[:n]
        self.out = self.out[n:]
        self.position += n
        return n

    def leftover(self) -> bytes:
        """Compressed bytes read past this member's end: the start of the next member."""
        return self.inflater.unused_data


class _WarcFileReader:
    def __init__(self, path: Path, name: str, max_doc_bytes: int, min_doc_chars: int, main_content: bool):
        self.path, self.name = path, name
        self.max_doc_bytes, self.min_doc_chars, self.main_content = max_doc_bytes, min_doc_chars, main_content
        found = SNAPSHOT.search(name)
        self.snapshot = found.group(0).upper() if found else None  # warcinfo's isPartOf overrides it
        self.member: _GzipMember | None = None
        self.cut_reported = False

    def members(self, raw: BinaryIO) -> Iterator[dict[str, Any] | Drop]:
        carry = b""
        while True:
            offset = raw.tell() - len(carry)
            if not carry and not raw.read(1):
                return
            if not carry:
                raw.seek(-1, io.SEEK_CUR)
            self.member = _GzipMember(raw, carry)
            yield from self.segment(self.member, offset)
            while self.member.read(1 << 16):  # a member's tail after its last record (normally empty)
                pass
            if self.member.error is not None:
                yield self._drop(f"@{offset}", "corrupt_gzip", f"gzip member at byte {offset}: {self.member.error}; rest of file skipped")
                return
            if self.member.truncated:
                if not self.cut_reported:  # the cut fell between records, not inside one
                    yield self._drop(f"@{offset}", "truncated_gzip", f"gzip member at byte {offset} is cut short")
                return
            carry = self.member.leftover()

    def plain(self, raw: BinaryIO) -> Iterator[dict[str, Any] | Drop]:
        """An uncompressed file, read stretch by stretch: each damaged one ends where the next record starts."""
        offset: int | None = 0
        while offset is not None:
            raw.seek(offset)
            offset = yield from self.segment(raw, offset)

    def segment(self, stream: BinaryIO, offset: int) -> Generator[dict[str, Any] | Drop, None, int | None]:
        """Records of one stretch of WARC; each is held until the next header parses, which proves its length.

        In an uncompressed file, returns the byte where reading resumes after damage (None: the file is done)."""
        records = iter(ArchiveIterator(stream, parse_http=True))
        pending: dict[str, Any] | Drop | None = None
        last: WarcRecord | None = None
        error: OSError | None = None
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            except OSError as exc:
                error = exc
                break
            if pending is not None:
                yield pending
            last = record
            pending = self._convert(record)
        if self.member is None:
            return (yield from self._resync(stream, offset, last, pending, error))
        if error is not None:
            pending = (self._drop(f"@{offset}", "bad_warc_header", f"byte {offset}: {error}") if last is None else
                       self._drop(last.record_id, "bad_content_length",
                                  f"record {last.record_id}: the bytes after its Content-Length are not a WARC record ({error})"))
        if pending is not None:
            yield pending
        return None

    def _resync(self, stream: BinaryIO, offset: int, last: WarcRecord | None, pending: dict[str, Any] | Drop | None,
                error: OSError | None) -> Generator[dict[str, Any] | Drop, None, int | None]:
        """Where a stretch of an uncompressed file stopped: its last record, unless its length is proven wrong,
        then the damaged bytes up to the next record header as one Drop; returns that header's byte."""
        size = stream.seek(0, io.SEEK_END)
        end = None if last is None else _record_end(stream, last, size)
        if last is not None and end is None:  # its length is wrong or its header is cut: the record is the damage
            start = last.stream_pos
        else:
            if pending is not None:
                yield pending
            if error is None:
                return None
            start = offset if end is None else end
        resume = _find(stream, RECORD_START, start)
        resume = None if resume is None else resume + 1  # past the newline that ends the line before
        stop = size if resume is None else resume
        then = f"reading resumes at the next record, byte {resume}" if resume is not None else "no record follows"
        if last is not None and end is None and _find(stream, HEADER_END, start, stop) is not None:
            yield self._drop(last.record_id, "bad_content_length",
                             f"bytes {start}-{stop}: record {last.record_id} does not end where its Content-Length "
                             f"({last.headers.get('Content-Length')}) says; {then}")
        else:
            why = "a WARC header cut short" if error is None else f"not a WARC record ({error})"
            yield self._drop(f"@{start}", "bad_warc_header", f"bytes {start}-{stop}: {why}; {then}")
        return resume

    def _convert(self, record: WarcRecord) -> dict[str, Any] | Drop | None:
        kind = record.record_type
        if kind == WarcRecordType.warcinfo:
            self._read_warcinfo(record)
            return None
        if kind not in (WarcRecordType.response, WarcRecordType.conversion):
            return None  # request / metadata / revisit records carry no page text
        record_id = record.record_id or ""
        if kind == WarcRecordType.response:
            status = record.http_headers.status_code if record.is_http else None
            if status != 200:
                return self._drop(record_id, "http_status", f"record {record_id}: HTTP status {status}")
            content_type = (record.http_content_type or record.headers.get("WARC-Identified-Payload-Type") or "").lower()
            if content_type not in HTML_TYPES:
                return self._drop(record_id, "not_html", f"record {record_id}: payload type {content_type or 'unknown'}")
        if record.content_length > self.max_doc_bytes:
            return self._drop(record_id, "too_large", f"record {record_id}: {record.content_length} bytes over {self.max_doc_bytes}")
        payload = record.reader.read(record.content_length)
        if len(payload) < record.content_length:
            cut = self.cut_reported = self.member is not None and self.member.truncated
            return self._drop(record_id, "truncated_gzip" if cut else "bad_content_length",
                              f"record {record_id}: {len(payload)} of {record.content_length} bytes before the end of "
                              + ("the gzip stream (file cut short)" if cut else "its gzip member"))
        meta: dict[str, Any] = {"warc_record_id": record_id, "snapshot": self.snapshot}
        if kind == WarcRecordType.response:
            text, encoding, replaced = self._html_text(payload, record.http_charset)
            meta.update(format="warc", charset=encoding)
        else:
            text, replaced = _decode(payload, "utf-8")
            meta.update(format="wet", cc_languages=record.headers.get("WARC-Identified-Content-Language"))
        if replaced:
            meta["undecodable_bytes"] = replaced
        if record.headers.get("WARC-Truncated"):
            meta["warc_truncated"] = record.headers.get("WARC-Truncated")
        text = text.replace("\x00", "").replace("\ufeff", "").strip()
        if len(text) < self.min_doc_chars:
            return self._drop(record_id, "too_short", f"record {record_id}: {len(text)} chars < {self.min_doc_chars}")
        return new_document(SOURCE, f"{self.name}:{record_id}", text, url=record.headers.get("WARC-Target-URI"),
                            path=self.name, timestamp=record.headers.get("WARC-Date"), meta=meta)

    def _read_warcinfo(self, record: WarcRecord) -> None:
        for line in record.reader.read(1 << 16).decode("utf-8", "replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "ispartof" and value.strip():
                self.snapshot = value.strip()

    def _html_text(self, payload: bytes, declared: str | None) -> tuple[str, str, int]:
        encoding = _codec(declared) or _codec(detect_encoding(payload, from_html_meta=True)) or "utf-8"
        html, replaced = _decode(payload, encoding)
        return extract_plain_text(HTMLTree.parse(html), main_content=self.main_content), encoding, replaced

    def _drop(self, key: str, reason: str, detail: str) -> Drop:
        return Drop.at(SOURCE, f"{self.name}:{key}", STAGE, reason, f"{self.path}: {detail}")


def _record_end(stream: BinaryIO, record: WarcRecord, size: int) -> int | None:
    """The byte after a record and the blank lines that close it; None where its header or length is wrong."""
    header_end = _find(stream, HEADER_END, record.stream_pos)
    length = record.headers.get("Content-Length", "")  # record.content_length leaves out parsed HTTP headers
    if header_end is None or not length.isdigit():
        return None
    end = header_end + len(b"\r\n\r\n") + int(length)
    if end > size:
        return None
    stream.seek(end)
    tail = stream.read(4)
    return end + len(tail) if b"\r\n\r\n".startswith(tail) else None


def _find(stream: BinaryIO, pattern: re.Pattern[bytes], start: int, stop: int | None = None) -> int | None:
    """The byte where ``pattern`` first matches in ``stream[start:stop]``, read a step at a time, not all at once."""
    stream.seek(start)
    window, base = b"", start
    while True:
        step = _SCAN_STEP if stop is None else min(_SCAN_STEP, stop - base - len(window))
        data = stream.read(step) if step > 0 else b""
        window += data
        found = pattern.search(window)
        if found is not None:
            return base + found.start()
        if not data:
            return None
        kept = window[-_SCAN_OVERLAP:]
        base += len(window) - len(kept)
        window = kept


def _codec(label: str | None) -> str | None:
    """The Python codec for a charset label as browsers read it (WHATWG: gb2312 -> gbk, latin1 -> cp1252)."""
    html5 = map_encoding_to_html5(label.strip().strip("\"'"), fallback_utf8=False) if label else None
    try:
        return codecs.lookup(html5).name if html5 else None
    except LookupError:
        return None


def _decode(payload: bytes, encoding: str) -> tuple[str, int]:
    """Text and the number of undecodable bytes, each replaced by U+FFFD rather than dropping the page."""
    try:
        return ESCAPED_BYTE.subn("\ufffd", payload.decode(encoding, errors="surrogateescape"))
    except UnicodeDecodeError:  # a byte below 0x80 the codec rejects (UTF-16 and the like)
        text = payload.decode(encoding, errors="replace")
        return text, text.count("\ufffd")
