"""An archived HTTP response body read the way a browser reads it, whatever the archiver left in its headers.

- Transfer coding: archives store headers as sent, but many (Heritrix, IA's LiveWeb writer, Common
  Crawl's 2008 ARC) store the body already de-chunked under ``Transfer-Encoding: chunked``. The body
  is de-chunked only when it really is valid chunk framing from start to end; otherwise it is read as is.
- Content coding: ``gzip``/``deflate`` are undone only when the bytes are in that coding (the 2008 ARC
  says ``gzip`` over plain HTML); a body that starts as gzip but does not inflate is an error.
- MIME type: parsed as WHATWG MIME Sniffing does; when it is missing, unparseable or one of the
  "unknown" types, the body is sniffed with the WHATWG "unknown MIME type" HTML patterns.
- Charset (WHATWG Encoding "decode"): a byte order mark wins, then the HTTP label, then the page's
  ``<meta>``, then byte-level detection; labels are mapped as browsers map them (``latin1`` ->
  windows-1252, ``gb2312`` -> GBK), and a label no browser knows (``iso-8559-1``) is ignored, never a drop.
"""
from __future__ import annotations

import codecs
import re
import zlib

from resiliparse.parse.encoding import detect_encoding, map_encoding_to_html5

HTML_TYPES = ("text/html", "application/xhtml+xml")
UNKNOWN_TYPES = ("unknown/unknown", "application/unknown", "*/*")  # WHATWG: sniff as if no type was given
ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # bytes that surrogateescape kept aside
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_ESSENCE = re.compile(rf"\s*({_TOKEN})/({_TOKEN})\s*(?:;|$)")
_CHARSET_PARAM = re.compile(r";\s*charset\s*=\s*(\"[^\"]*\"|[^;\s]*)", re.IGNORECASE)
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# WHATWG MIME Sniffing 7.1 "identify an unknown MIME type", the HTML patterns; each is followed by a space or '>'
_HTML_PATTERNS = re.compile(rb"[\t\n\x0c\r ]*(?:<!DOCTYPE HTML|<HTML|<HEAD|<SCRIPT|<IFRAME|<H1|<DIV|<FONT|<TABLE|<A|<STYLE"
                            rb"|<TITLE|<B|<BODY|<BR|<P|<!--)[ >]", re.IGNORECASE)


class ContentEncodingError(ValueError):
    pass


def parse_content_type(value: str | None) -> tuple[str | None, str | None]:
    """(lowercased essence, charset label) of a Content-Type value; essence None when missing or unparseable."""
    if not value:
        return None, None
    found = _ESSENCE.match(value)
    if found is None:
        return None, None
    charset = _CHARSET_PARAM.search(value, found.end() - 1)
    label = charset.group(1).strip('"').strip() if charset else None
    return f"{found.group(1)}/{found.group(2)}".lower(), label or None


def needs_sniffing(essence: str | None) -> bool:
    return essence is None or essence in UNKNOWN_TYPES


def sniff_is_html(body: bytes) -> bool:
    """WHATWG's HTML signatures after leading whitespace (a byte order mark is skipped too, so a BOM-led page
    without a type is still HTML)."""
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8):]
    return _HTML_PATTERNS.match(body[:1024] + b" ") is not None


def dechunk(body: bytes) -> bytes | None:
    """The data of a body in valid chunked framing (every chunk, up to the last-chunk or the end of the body);
    None when the bytes are not chunk framing, i.e. they were stored de-chunked."""
    out, pos = [], 0
    while pos < len(body):
        size_line = _CHUNK_SIZE.match(body, pos)
        if size_line is None:
            return None
        size, pos = int(size_line.group(1), 16), size_line.end()
        if size == 0:  # last-chunk; trailer fields and the final CRLF follow
            return b"".join(out)
        if pos + size > len(body):
            return None
        out.append(body[pos:pos + size])
        pos += size
        if body.startswith(b"\r\n", pos):
            pos += 2
        elif body.startswith(b"\n", pos):
            pos += 1
        elif pos < len(body):
            return None
    return b"".join(out) if out else None


def decode_content(body: bytes, coding: str | None, limit: int) -> bytes:
    """``body`` with its content coding undone when it really is in it; ContentEncodingError when it starts
    as gzip/zlib but does not inflate, or inflates past ``limit`` bytes."""
    coding = (coding or "").strip().lower()
    if coding in ("gzip", "x-gzip") and body.startswith(b"\x1f\x8b"):
        return _inflate(body, zlib.decompressobj(16 + zlib.MAX_WBITS), limit)
    if coding == "deflate" and len(body) > 1 and body[0] & 0x0F == 8 and int.from_bytes(body[:2], "big") % 31 == 0:
        return _inflate(body, zlib.decompressobj(), limit)
    return body


def _inflate(body: bytes, inflater, limit: int) -> bytes:
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ContentEncodingError(f"content coding does not inflate: {exc}") from exc
    if len(out) > limit:
        raise ContentEncodingError(f"inflates past {limit} bytes")
    return out


def html_encoding(body: bytes, label: str | None) -> tuple[str, bytes]:
    """(Python codec, bytes to decode): BOM, else the HTTP label, else ``<meta>``, else detection, else UTF-8."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return encoding, body[len(bom):]
    return codec(label) or codec(detect_encoding(body, from_html_meta=True)) or "utf-8", body


def codec(label: str | None) -> str | None:
    """The Python codec for a charset label as browsers read it (WHATWG: gb2312 -> gbk, latin1 -> cp1252)."""
    html5 = map_encoding_to_html5(label.strip().strip("\"'"), fallback_utf8=False) if label else None
    try:
        return codecs.lookup(html5).name if html5 else None
    except LookupError:
        return None


def decode(payload: bytes, encoding: str) -> tuple[str, int]:
    """Text and the number of undecodable bytes, each replaced by U+FFFD rather than dropping the page."""
    try:
        return ESCAPED_BYTE.subn("\ufffd", payload.decode(encoding, errors="surrogateescape"))
    except UnicodeDecodeError:  # a byte below 0x80 the codec rejects (UTF-16 and the like)
        text = payload.decode(encoding, errors="replace")
        return text, text.count("\ufffd")
