"""Archived HTTP bodies read as a browser reads them, on real records of the crawl samples."""
from __future__ import annotations

import codecs
import gzip
import zlib

import pytest
from fastwarc.warc import ArchiveIterator, WarcRecordType

from corpus.sources import http_payload
from corpus.sources.http_payload import ContentEncodingError


def body_of(samples_dir, path: str, url: str) -> bytes:
    with open(samples_dir / "commoncrawl" / path, "rb") as stream:
        for record in ArchiveIterator(stream, record_types=WarcRecordType.response):
            if record.headers.get("WARC-Target-URI") == url:
                return record.reader.read()
    raise AssertionError(f"{url} not in {path}")


def test_real_chunk_framing_is_removed_and_stored_dechunked_bodies_are_not_framing(samples_dir):
    framed = body_of(samples_dir, "wget-2013_archiveteam-org_warcat/at.warc.gz", "http://www.archiveteam.org/index.php?title=Main_Page")
    assert framed.startswith(b"5db1\r\n<!DOCTYPE")
    html = http_payload.dechunk(framed)
    assert html.startswith(b"<!DOCTYPE") and html.rstrip().endswith(b"</html>") and b"\r\n5db1\r\n" not in html
    stored = body_of(samples_dir, "ia-liveweb-2014_iana-org_pywb/iana.warc.gz", "http://www.iana.org/")
    assert stored.startswith(b"<!doctype html>") and http_payload.dechunk(stored) is None
    assert http_payload.dechunk(b"be\r\nshort") is None  # looks like a size line, but the chunk is not there
    assert http_payload.dechunk(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n") == b"hello world"


def test_content_coding_is_undone_only_where_the_bytes_are_in_it(samples_dir):
    html = body_of(samples_dir, "ia-liveweb-2014_iana-org_pywb/iana.warc.gz", "http://www.iana.org/")
    assert http_payload.decode_content(html, "gzip", 1 << 20) is html  # says gzip, is plain (the 2008 ARC)
    assert http_payload.decode_content(gzip.compress(html), "x-gzip", 1 << 20) == html
    assert http_payload.decode_content(zlib.compress(html), "deflate", 1 << 20) == html
    broken = bytearray(gzip.compress(html))
    broken[20:60] = b"\xff" * 40
    with pytest.raises(ContentEncodingError, match="does not inflate"):
        http_payload.decode_content(bytes(broken), "gzip", 1 << 20)
    with pytest.raises(ContentEncodingError, match="inflates past 1000 bytes"):
        http_payload.decode_content(gzip.compress(html), "gzip", 1000)


@pytest.mark.parametrize(("value", "parsed"), [
    ("text/html; charset=UTF-8", ("text/html", "UTF-8")),
    ('Text/HTML;charset="windows-1252"', ("text/html", "windows-1252")),
    ("application/xhtml+xml", ("application/xhtml+xml", None)),
    ("text/html; charset=iso-8559-1", ("text/html", "iso-8559-1")),  # kept: the decoder decides what it means
    ("html", (None, None)), ("text/html/x", (None, None)), ("", (None, None)), (None, (None, None)),
])
def test_content_type_is_parsed_as_whatwg_does(value, parsed):
    assert http_payload.parse_content_type(value) == parsed


def test_html_is_sniffed_by_the_whatwg_signatures(samples_dir):
    html = body_of(samples_dir, "ia-liveweb-2014_iana-org_pywb/iana.warc.gz", "http://www.iana.org/")
    assert http_payload.sniff_is_html(html) and http_payload.sniff_is_html(b" \r\n\t" + html)
    assert http_payload.sniff_is_html(codecs.BOM_UTF8 + b"<html>\r\n<head>")
    assert http_payload.sniff_is_html(b"<!-- a comment -->") and http_payload.sniff_is_html(b"<a href='/'>")
    assert not http_payload.sniff_is_html(b"<abbr>x</abbr>")  # a signature must end at a space or '>'
    assert not http_payload.sniff_is_html(b"<?xml version='1.0'?><rss>")
    assert not http_payload.sniff_is_html(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))


def test_charset_order_is_bom_then_label_then_meta_then_detection(samples_dir):
    page = "<html><head><meta charset=windows-1252></head><body>Caf\u00e9 cr\u00e8me</body></html>"
    assert http_payload.html_encoding(codecs.BOM_UTF16_LE + page.encode("utf-16-le"), "iso-8859-1") == (
        "utf-16-le", page.encode("utf-16-le"))
    assert http_payload.html_encoding(page.encode("cp1252"), "latin1")[0] == "cp1252"  # WHATWG: latin1 is windows-1252
    assert http_payload.html_encoding(page.encode("cp1252"), "iso-8559-1")[0] == "cp1252"  # a typo: the <meta> decides
    assert http_payload.codec("gb2312") == "gbk" and http_payload.codec("iso-8559-1") is None
    assert http_payload.decode(b"caf\xe9 \x81", "utf-8") == ("caf\ufffd \ufffd", 2)
