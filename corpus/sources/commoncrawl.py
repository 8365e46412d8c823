"""Web crawls as users have them: Common Crawl WET (``.warc.wet.gz``) and WARC (``.warc.gz``, WARC/0.17 to
1.1, from Heritrix, wget, Browsertrix ... as well), and ARC (Common Crawl 2008-2012, the Internet Archive).

Every file under the source folder is an input unit: its format is sniffed from its first bytes (gzip or
not, then ``WARC/`` or ``filedesc://``), not from its name; a file that starts as neither is read as a
damaged WARC when its name says WARC, and is otherwise one counted Drop naming the file and why, as is a
WAT metadata file (no page text).

WARC records are parsed by FastWARC (streaming, maintained with Resiliparse); ARC by ``corpus.sources.arc``.
HTTP bodies are read as a browser reads them (``corpus.sources.http_payload``: chunked framing only where it
really is, content coding only where the bytes are in it, MIME sniffing when the type is missing,
WHATWG charset rules); main text by Resiliparse's ``extract_plain_text(main_content=True)``. Resiliparse was
chosen over trafilatura because it is a C++ extractor ~10x faster on CC-sized input, ships the charset
detector we need, and is maintained together with FastWARC (trafilatura is also not installed here).
A revisit record (its payload is another capture's, often in another file) is a counted duplicate.

Common Crawl gzips every record as its own member, so a ``.gz`` file is read member by member: a
record whose Content-Length is wrong, or whose member is cut short, is quarantined and the next
member starts clean. An uncompressed file has no such seams: after a damaged stretch (a wrong
Content-Length, bytes that are no record, a cut header) reading resumes at the next line that starts a
WARC header, and the stretch is one quarantined Drop. CCNet's 300-character minimum is applied to all formats.
"""
from __future__ import annotations

import gzip
import io
import re
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Callable, Generator, Iterator

from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

from corpus.recipe import CCNET_MIN_DOC_CHARS
from corpus.schema import Drop, new_document
from corpus.sources import arc
from corpus.sources.http_payload import (
    HTML_TYPES, ContentEncodingError, decode, decode_content, dechunk, html_encoding, needs_sniffing,
    parse_content_type, sniff_is_html,
)

SOURCE = "commoncrawl"
STAGE = "ingest"
WARC_SUFFIXES = (".warc", ".warc.gz", ".warc.wet", ".warc.wet.gz", ".wet", ".wet.gz")
METADATA_SUFFIXES = (".warc.wat", ".warc.wat.gz", ".wat", ".wat.gz")  # JSON metadata, no page text
DEFAULT_MAX_DOC_BYTES = 16 << 20
SNAPSHOT = re.compile(r"cc-main-\d{4}-\d{2}", re.IGNORECASE)
_INFLATE_STEP = 1 << 20  # decompressed bytes per step: bounds memory on a gzip bomb
_SCAN_STEP = 1 << 16  # bytes per read when an uncompressed file is searched for a record boundary
_SNIFF_BYTES = 64  # decompressed bytes that tell the format
_HTTP_HEAD_BYTES = 1 << 16  # an ARC block is read up to the page limit plus this much for its HTTP headers
HEADER_END = re.compile(rb"\r\n\r\n")
RECORD_START = re.compile(rb"\nWARC/(?:1\.[01]|0\.1\d)\r\n[!-9;-~]{1,256}:")  # a version line (WARC/0.17 too), then a header field
_SCAN_OVERLAP = 300  # longer than any match of the two patterns above, so none is split between reads


def discover_inputs(root: Path) -> list[Path]:
    """Every file under ``root``: the reader turns one it cannot read into a counted Drop, not a silent skip."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file())


def read_documents(path: Path, name: str, max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES,
                   min_doc_chars: int = CCNET_MIN_DOC_CHARS, main_content: bool = True) -> Iterator[dict[str, Any] | Drop]:
    reader = _CrawlFileReader(path, name, max_doc_bytes, min_doc_chars, main_content)
    if path.name.lower().endswith(METADATA_SUFFIXES):
        yield reader._drop("@0", "wat_metadata", "a WAT file holds JSON metadata about WARC records, no page text")
        return
    with open(path, "rb") as raw:
        compressed, head = _sniff(raw)
        if head == b"":
            return
        if head is not None and head.startswith(b"filedesc://"):
            yield from reader.arc(raw, compressed)
        elif head is None or head.startswith(b"WARC/") or path.name.lower().endswith(WARC_SUFFIXES):
            # None: a gzip stream that does not inflate; a WARC name over other bytes: damage the reader bounds
            yield from reader.members(raw) if compressed else reader.plain(raw)
        else:
            yield reader._drop("@0", "unsupported_format", f"neither WARC nor ARC: {'its gzip stream' if compressed else 'it'} "
                               f"starts with {head[:40]!r}")


def _sniff(raw: BinaryIO) -> tuple[bool, bytes | None]:
    """(gzip or not, the first bytes of the content); None when the gzip stream does not even start to inflate."""
    start = raw.read(1 << 16)
    raw.seek(0)
    if not start.startswith(b"\x1f\x8b"):
        return False, start[:_SNIFF_BYTES]
    try:
        return True, zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(start, _SNIFF_BYTES)
    except zlib.error:
        return True, None


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


class _CrawlFileReader:
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
        then = _then(resume)
        if last is not None and end is None and _find(stream, HEADER_END, start, stop) is not None:
            yield self._drop(last.record_id, "bad_content_length",
                             f"bytes {start}-{stop}: record {last.record_id} does not end where its Content-Length "
                             f"({last.headers.get('Content-Length')}) says; {then}")
        else:
            why = "a WARC header cut short" if error is None else f"not a WARC record ({error})"
            yield self._drop(f"@{start}", "bad_warc_header", f"bytes {start}-{stop}: {why}; {then}")
        return resume

    def arc(self, raw: BinaryIO, compressed: bool) -> Iterator[dict[str, Any] | Drop]:
        """An ARC file, plain or gzipped (one member per record, or one for all: ``GzipFile`` reads both)."""
        stream = gzip.GzipFile(fileobj=raw) if compressed else raw
        records = arc.read_records(stream, self.max_doc_bytes + _HTTP_HEAD_BYTES)
        while True:
            try:
                item = next(records)
            except StopIteration:
                return
            except (EOFError, OSError, zlib.error) as exc:  # the gzip stream is cut or corrupt
                cut = isinstance(exc, EOFError)
                yield self._drop(f"@{raw.tell()}", "truncated_gzip" if cut else "corrupt_gzip",
                                 f"gzip stream {'cut short' if cut else 'corrupt'} before compressed byte {raw.tell()} "
                                 f"({exc}); rest of file skipped")
                return
            converted = self._arc_damage(item) if isinstance(item, arc.ArcDamage) else self._arc_record(item)
            if converted is not None:
                yield converted

    def _arc_record(self, record: arc.ArcRecord) -> dict[str, Any] | Drop | None:
        header = record.header
        if header.url.startswith("filedesc://"):
            return None  # the file's own description
        key, what = f"@{header.offset}", f"ARC record at byte {header.offset} ({header.url})"
        http = arc.parse_http_head(record.block)
        if http is None:
            return self._drop(key, "not_http", f"{what}: its block is not an HTTP response (ARC type {header.content_type})")
        meta: dict[str, Any] = {"arc_offset": header.offset, "snapshot": self.snapshot}
        return self._http_page(key, what, http.status, lambda name: http.headers.get(name.lower()), header.content_type,
                               header.length - http.body_start, lambda: record.block[http.body_start:], meta, None,
                               url=header.url, timestamp=header.timestamp)

    def _arc_damage(self, damage: arc.ArcDamage) -> Drop:
        stretch, then = f"bytes {damage.start}-{damage.stop}", _then(damage.stop if damage.resumes else None)
        record = damage.record
        what = "" if record is None else f"ARC record at byte {record.offset} ({record.url}) "
        if damage.reason == "bad_arc_header":
            return self._drop(f"@{damage.start}", damage.reason, f"{stretch}: not an ARC record; {then}")
        if damage.reason == "truncated":
            return self._drop(f"@{damage.start}", damage.reason, f"{stretch}: {what}of {record.length} bytes is cut "
                              "short by the end of the file")
        return self._drop(f"@{damage.start}", damage.reason, f"{stretch}: {what}does not end where its length "
                          f"({record.length}) says; {then}")

    def _convert(self, record: WarcRecord) -> dict[str, Any] | Drop | None:
        kind = record.record_type
        if kind == WarcRecordType.warcinfo:
            self._read_warcinfo(record)
            return None
        if kind == WarcRecordType.revisit:
            return self._revisit(record)
        if kind not in (WarcRecordType.response, WarcRecordType.conversion):
            return None  # request / metadata / resource records carry no crawled page
        record_id = record.record_id or ""
        what = f"record {record_id}"
        meta: dict[str, Any] = {"warc_record_id": record_id, "snapshot": self.snapshot}
        fields = dict(url=record.headers.get("WARC-Target-URI"), timestamp=record.headers.get("WARC-Date"))
        if kind == WarcRecordType.response:
            if not record.is_http:
                return self._drop(record_id, "not_http", f"{what}: its block is not an HTTP response "
                                  f"(WARC Content-Type {record.headers.get('Content-Type')})")
            return self._http_page(record_id, what, record.http_headers.status_code, record.http_headers.get,
                                   record.headers.get("WARC-Identified-Payload-Type"), record.content_length,
                                   lambda: self._payload(record), meta, record.headers.get("WARC-Truncated"), **fields)
        if record.content_length > self.max_doc_bytes:
            return self._too_large(record_id, what, record.content_length)
        payload = self._payload(record)
        if isinstance(payload, Drop):
            return payload
        text, replaced = decode(payload, "utf-8")
        meta.update(format="wet", cc_languages=record.headers.get("WARC-Identified-Content-Language"))
        return self._document(record_id, what, text, replaced, meta, record.headers.get("WARC-Truncated"), **fields)

    def _revisit(self, record: WarcRecord) -> Drop:
        """A revisit's payload is an earlier capture's: a page duplicate (or a non-page, by its stored headers)."""
        record_id, get = record.record_id or "", record.headers.get
        what = f"record {record_id}"
        if record.is_http:
            status = record.http_headers.status_code
            verdict = self._http_verdict(record_id, what, 200 if status == 304 else status,  # 304: "not modified"
                                         record.http_headers.get("Content-Type"), None)
            if isinstance(verdict, Drop):
                return verdict
        original = ", ".join(f"{label} {value}" for label, value in (
            ("record", get("WARC-Refers-To")), ("captured", get("WARC-Refers-To-Date")),
            ("payload", get("WARC-Payload-Digest")), ("profile", get("WARC-Profile"))) if value)
        return self._drop(record_id, "revisit_duplicate", f"{what}: duplicate of the capture of "
                          f"{get('WARC-Refers-To-Target-URI') or get('WARC-Target-URI')} ({original})")

    def _http_verdict(self, key: str, what: str, status: int | None, content_type: str | None,
                      fallback_type: str | None) -> Drop | tuple[str | None, str | None]:
        """A Drop for an error status or a declared type that is not HTML, else (essence, charset label);
        essence None (or WHATWG's "unknown" types) means: sniff the body."""
        if status != 200:
            return self._drop(key, "http_status", f"{what}: HTTP status {status}")
        essence, label = parse_content_type(content_type)
        if needs_sniffing(essence) and fallback_type:
            essence = parse_content_type(fallback_type)[0] or essence
        if not needs_sniffing(essence) and essence not in HTML_TYPES:
            return self._drop(key, "not_html", f"{what}: payload type {essence}")
        return essence, label

    def _http_page(self, key: str, what: str, status: int | None, header: Callable[[str], str | None],
                   fallback_type: str | None, body_length: int, read_body: Callable[[], bytes | Drop],
                   meta: dict[str, Any], truncated: str | None, url: str | None, timestamp: str | None
                   ) -> dict[str, Any] | Drop:
        """An HTTP response -> a document: status, type, size, then the body as a browser decodes it."""
        verdict = self._http_verdict(key, what, status, header("Content-Type"), fallback_type)
        if isinstance(verdict, Drop):
            return verdict
        essence, label = verdict
        if body_length > self.max_doc_bytes:
            return self._too_large(key, what, body_length)
        body = read_body()
        if isinstance(body, Drop):
            return body
        decoded: list[str] = []
        if "chunked" in (header("Transfer-Encoding") or "").lower() and (data := dechunk(body)) is not None:
            body = data
            decoded.append("chunked")
        coding = header("Content-Encoding")
        try:
            data = decode_content(body, coding, self.max_doc_bytes)
        except ContentEncodingError as exc:
            return self._drop(key, "bad_content_encoding", f"{what}: Content-Encoding {coding}: {exc}")
        if data is not body:
            body = data
            decoded.append(coding.strip().lower())
        sniffed = needs_sniffing(essence)
        if sniffed and not sniff_is_html(body):
            return self._drop(key, "not_html", f"{what}: payload type {essence or 'missing'} "
                              f"(Content-Type {header('Content-Type')!r}), and the body does not sniff as HTML")
        encoding, body = html_encoding(body, label)
        html, replaced = decode(body, encoding)
        text = extract_plain_text(HTMLTree.parse(html), main_content=self.main_content)
        meta.update(format="warc" if "warc_record_id" in meta else "arc", charset=encoding)
        if sniffed:
            meta["sniffed_type"] = "text/html"
        if decoded:
            meta["http_decoded"] = decoded
        return self._document(key, what, text, replaced, meta, truncated, url=url, timestamp=timestamp)

    def _payload(self, record: WarcRecord) -> bytes | Drop:
        payload = record.reader.read(record.content_length)
        if len(payload) < record.content_length:
            cut = self.cut_reported = self.member is not None and self.member.truncated
            return self._drop(record.record_id or "", "truncated_gzip" if cut else "bad_content_length",
                              f"record {record.record_id}: {len(payload)} of {record.content_length} bytes before the end of "
                              + ("the gzip stream (file cut short)" if cut else "its gzip member"))
        return payload

    def _document(self, key: str, what: str, text: str, replaced: int, meta: dict[str, Any], truncated: str | None,
                  url: str | None, timestamp: str | None) -> dict[str, Any] | Drop:
        if replaced:
            meta["undecodable_bytes"] = replaced
        if truncated:
            meta["warc_truncated"] = truncated
        text = text.replace("\x00", "").replace("\ufeff", "").strip()
        if len(text) < self.min_doc_chars:
            return self._drop(key, "too_short", f"{what}: {len(text)} chars < {self.min_doc_chars}")
        return new_document(SOURCE, f"{self.name}:{key}", text, url=url, path=self.name, timestamp=timestamp, meta=meta)

    def _too_large(self, key: str, what: str, length: int) -> Drop:
        return self._drop(key, "too_large", f"{what}: {length} bytes over {self.max_doc_bytes}")

    def _read_warcinfo(self, record: WarcRecord) -> None:
        for line in record.reader.read(1 << 16).decode("utf-8", "replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "ispartof" and value.strip():
                self.snapshot = value.strip()

    def _drop(self, key: str, reason: str, detail: str) -> Drop:
        return Drop.at(SOURCE, f"{self.name}:{key}", STAGE, reason, f"{self.path}: {detail}")


def _then(resume: int | None) -> str:
    return f"reading resumes at the next record, byte {resume}" if resume is not None else "no record follows"


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
