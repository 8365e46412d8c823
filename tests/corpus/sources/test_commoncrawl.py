from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from fastwarc.warc import ArchiveIterator, WarcRecordType

from corpus.recipe import CCNET_MIN_DOC_CHARS
from corpus.schema import Drop
from corpus.sources import commoncrawl

WHIRLWIND = "commoncrawl/cc-main-2024-22_whirlwind"
CRAWL_2020 = "commoncrawl/cc-main-2020-34_resiliparse/warcfile.warc.gz"


def read(path: Path, name: str | None = None, **options) -> tuple[list[dict], list[Drop]]:
    records = list(commoncrawl.read_documents(path, name or path.name, **options))
    return [r for r in records if isinstance(r, dict)], [r for r in records if isinstance(r, Drop)]


def real_html(samples_dir: Path, url_part: str) -> bytes:
    """The HTML payload of one real page of the 2020-34 sample, to build damaged archives around."""
    with open(samples_dir / CRAWL_2020, "rb") as stream:
        for record in ArchiveIterator(stream, record_types=WarcRecordType.response):
            if url_part in record.headers.get("WARC-Target-URI"):
                return record.reader.read()
    raise AssertionError(f"{url_part} not in the sample")


def warc_record(n: int, payload: bytes, content_type: str | None = "text/html; charset=utf-8", status: str = "200 OK",
                content_length: int | str | None = None, http_headers: str = "") -> bytes:
    type_line = "" if content_type is None else f"Content-Type: {content_type}\r\n"
    block = f"HTTP/1.1 {status}\r\n{type_line}{http_headers}\r\n".encode() + payload
    length = len(block) if content_length is None else content_length
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{n:012d}>\r\n"
            f"WARC-Date: 2020-08-08T17:00:00Z\r\nWARC-Target-URI: http://example.nl/{n}\r\n"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {length}\r\n\r\n").encode()
    return head + block + b"\r\n\r\n"


def write_warc_gz(path: Path, records: list[bytes]) -> Path:
    """Common Crawl's layout: every record its own gzip member."""
    path.write_bytes(b"".join(gzip.compress(r) for r in records))
    return path


def urls(docs: list[dict]) -> list[str]:
    return [d["url"] for d in docs]


SAMPLE_FILES = [
    "PROVENANCE.md",
    "archive-it-heritrix-2013_bitchmagazine_ipwb/sample-1.warc.gz",
    "bad_inputs/clipped.warc.gz",
    "bad_inputs/wayback-nonstandard-snapshot-topic-02.warc.gz",
    "bl-heritrix-2014_data-gov-uk_webarchive-discovery/BL-20140325121225068-00000-32090~opera~8443.warc.gz",
    "bl-heritrix-2014_data-gov-uk_webarchive-discovery/BL-20140325122341434-00000-32090~opera~8443.warc.gz",
    "browsertrix-2024_qsl-net-charset-typo_warc2zim/qsl.net-encoding-alias.warc.gz",
    "cc-main-2020-34_resiliparse/warcfile.warc.gz",
    "cc-main-2024-22_whirlwind/whirlwind.warc.gz",
    "cc-main-2024-22_whirlwind/whirlwind.warc.wat.gz",
    "cc-main-2024-22_whirlwind/whirlwind.warc.wet.gz",
    "commoncrawl-2008-arc_copycat/small-sample-1213893279526_0.arc",
    "commoncrawl-2019_commoncrawl-org_jwarc/cc.warc.gz",
    "ia-heritrix-2008_archive-org_aut/example.warc.gz",
    "ia-liveweb-2014_iana-org_pywb/iana.warc.gz",
    "wget-2012_wikipedia-main-page_ukwa-test-suite/main-page.warc.gz",
    "wget-2013_archiveteam-org_warcat/at.warc.gz",
    "wget-2013_wikipedia-mona-lisa_webarchive-discovery/flashfrozen-jwat-recompressed.warc.gz",
]
# per sample file: documents out and drops by reason (every record that is a page, or claims to be one, counted)
SAMPLE_COUNTS = {
    "PROVENANCE.md": (0, {"unsupported_format": 1}),
    "archive-it-heritrix-2013_bitchmagazine_ipwb/sample-1.warc.gz":
        (58, {"http_status": 5, "not_html": 6, "not_http": 5, "revisit_duplicate": 1, "too_short": 5}),
    "bad_inputs/clipped.warc.gz": (0, {"truncated_gzip": 1}),
    "bad_inputs/wayback-nonstandard-snapshot-topic-02.warc.gz": (0, {"not_http": 128}),  # no HTTP status lines
    "bl-heritrix-2014_data-gov-uk_webarchive-discovery/BL-20140325121225068-00000-32090~opera~8443.warc.gz":
        (25, {"http_status": 5, "not_html": 25, "not_http": 3, "too_short": 7}),
    "bl-heritrix-2014_data-gov-uk_webarchive-discovery/BL-20140325122341434-00000-32090~opera~8443.warc.gz":
        (5, {"http_status": 5, "not_html": 25, "not_http": 3, "revisit_duplicate": 26, "too_short": 1}),
    "browsertrix-2024_qsl-net-charset-typo_warc2zim/qsl.net-encoding-alias.warc.gz": (1, {"not_html": 1}),
    "cc-main-2020-34_resiliparse/warcfile.warc.gz": (12, {"too_short": 4}),
    "cc-main-2024-22_whirlwind/whirlwind.warc.gz": (1, {}),
    "cc-main-2024-22_whirlwind/whirlwind.warc.wat.gz": (0, {"wat_metadata": 1}),
    "cc-main-2024-22_whirlwind/whirlwind.warc.wet.gz": (1, {}),
    "commoncrawl-2008-arc_copycat/small-sample-1213893279526_0.arc": (104, {"http_status": 14, "not_html": 6, "too_short": 21}),
    "commoncrawl-2019_commoncrawl-org_jwarc/cc.warc.gz": (1, {}),
    "ia-heritrix-2008_archive-org_aut/example.warc.gz": (91, {"http_status": 47, "not_html": 120, "not_http": 38, "too_short": 3}),
    "ia-liveweb-2014_iana-org_pywb/iana.warc.gz": (15, {"http_status": 4, "not_html": 151, "too_short": 1}),
    "wget-2012_wikipedia-main-page_ukwa-test-suite/main-page.warc.gz": (1, {"not_html": 69}),
    "wget-2013_archiveteam-org_warcat/at.warc.gz": (1, {"http_status": 1}),
    "wget-2013_wikipedia-mona-lisa_webarchive-discovery/flashfrozen-jwat-recompressed.warc.gz": (2, {"not_html": 37}),
}
ARC_2008 = "commoncrawl/commoncrawl-2008-arc_copycat/small-sample-1213893279526_0.arc"
DATA_GOV_UK = "commoncrawl/bl-heritrix-2014_data-gov-uk_webarchive-discovery/BL-20140325{}-00000-32090~opera~8443.warc.gz"


def test_discover_lists_every_file_and_wat_metadata_is_a_counted_drop(samples_dir):
    root = samples_dir / "commoncrawl"
    assert [p.relative_to(root).as_posix() for p in commoncrawl.discover_inputs(root)] == SAMPLE_FILES
    docs, drops = read(root / "cc-main-2024-22_whirlwind/whirlwind.warc.wat.gz")
    assert docs == [] and [d.reason for d in drops] == ["wat_metadata"]
    assert "whirlwind.warc.wat.gz: a WAT file" in drops[0].detail


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_every_sample_file_gives_its_pinned_documents_and_drops(samples_dir, name):
    docs, drops = read(samples_dir / "commoncrawl" / name, name)
    assert (len(docs), dict(Counter(d.reason for d in drops))) == SAMPLE_COUNTS[name]
    assert len({d["id"] for d in docs}) == len(docs)
    assert all(name in d.detail for d in drops)  # every drop names its file


def test_a_file_that_is_neither_warc_nor_arc_is_one_counted_drop(samples_dir, tmp_path):
    docs, drops = read(samples_dir / "commoncrawl/PROVENANCE.md")
    assert docs == [] and [d.reason for d in drops] == ["unsupported_format"]
    assert "neither WARC nor ARC: it starts with b'# PROVENANCE" in drops[0].detail
    json_gz = tmp_path / "c4-like.json.gz"
    json_gz.write_bytes(gzip.compress(b'{"text": "a C4 record in the wrong folder"}\n'))
    docs, drops = read(json_gz)
    assert docs == [] and [d.reason for d in drops] == ["unsupported_format"]
    assert "its gzip stream starts with b'{\"text\"" in drops[0].detail


def test_arc_2008_common_crawl_pages(samples_dir):
    docs, drops = read(samples_dir / ARC_2008, "small-sample-1213893279526_0.arc")
    by_url = {d["url"]: d for d in docs}
    assert len(by_url) == len(docs) == 104
    page = by_url["http://ejohn.org/projects/flexible-javascript-events/"]
    assert "This is the project page for my entry into the addEvent() recoding contest" in page["text"]
    assert page["timestamp"] == "2008-05-09T19:02:41Z"
    first = json.loads(by_url["http://cineciudad.com/pelicula/index/502"]["meta"])
    assert first == {"arc_offset": 144, "charset": "utf-8", "format": "arc", "snapshot": None}
    assert "LEÓNIDAS" in by_url["http://cineciudad.com/pelicula/index/502"]["text"]  # UTF-8 from the HTTP header
    # 36 records say chunked and 14 gzip over bodies stored plain: every one is read as is
    assert not any("http_decoded" in json.loads(d["meta"]) for d in docs)
    assert Counter(json.loads(d["meta"])["charset"] for d in docs) == {
        "cp1252": 76, "utf-8": 22, "cp1250": 2, "cp1256": 1, "gbk": 1, "euc_jp": 1, "shift_jis": 1}
    pdf = next(d for d in drops if d.reason == "not_html")
    assert "ARC record at byte 6737 (http://www.kurdistancp.org/" in pdf.detail and "application/pdf" in pdf.detail


@pytest.mark.parametrize("name", ["sample.arc.gz", "sample.warc.gz", "sample"])
def test_arc_format_is_sniffed_not_taken_from_the_name(samples_dir, tmp_path, name):
    raw = (samples_dir / ARC_2008).read_bytes()
    plain_docs, plain_drops = read(samples_dir / ARC_2008, "x")
    (tmp_path / name).write_bytes(gzip.compress(raw, compresslevel=1) if name.endswith(".gz") else raw)
    docs, drops = read(tmp_path / name, "x")
    assert docs == plain_docs and len(docs) == 104
    assert [(d.id, d.reason) for d in drops] == [(d.id, d.reason) for d in plain_drops]


def test_warc_0_17_archive_org_crawl(samples_dir):
    docs, drops = read(samples_dir / "commoncrawl/ia-heritrix-2008_archive-org_aut/example.warc.gz")
    assert len(docs) == 91
    home = next(d for d in docs if d["url"] == "http://www.archive.org/index.php")
    assert "Internet Archive" in home["text"] and home["timestamp"] == "2008-04-30T20:48:26Z"
    dns = next(d for d in drops if d.reason == "not_http")
    assert "its block is not an HTTP response (WARC Content-Type text/dns)" in dns.detail


def test_uncompressed_warc_0_17_resumes_at_the_next_record(samples_dir, tmp_path):
    with gzip.open(samples_dir / "commoncrawl/ia-heritrix-2008_archive-org_aut/example.warc.gz") as stream:
        data = stream.read()
    starts = [m.start() + 1 for m in re.finditer(rb"\nWARC/0\.17\r\n", data)]
    garbage = b"\x00 not a record \r\n" * 20
    path = tmp_path / "aut.warc"
    path.write_bytes(data[:starts[400]] + garbage + data[starts[400]:])
    docs, drops = read(path, "aut")
    assert urls(docs) == urls(read(samples_dir / "commoncrawl/ia-heritrix-2008_archive-org_aut/example.warc.gz", "aut")[0])
    assert len(docs) == 91
    bad = [d for d in drops if d.reason == "bad_warc_header"]
    assert len(bad) == 1 and f"bytes {starts[400]}-{starts[400] + len(garbage)}: not a WARC record" in bad[0].detail


def test_chunked_header_over_stored_dechunked_bodies_is_read_as_is(samples_dir):
    docs, drops = read(samples_dir / "commoncrawl/ia-liveweb-2014_iana-org_pywb/iana.warc.gz")
    assert len(docs) == 15 and not any("http_decoded" in json.loads(d["meta"]) for d in docs)
    home = next(d for d in docs if d["url"] == "http://www.iana.org/")
    assert home["text"].startswith("Internet Assigned Numbers Authority")


def test_real_chunk_framing_is_removed(samples_dir):
    docs, _ = read(samples_dir / "commoncrawl/wget-2013_archiveteam-org_warcat/at.warc.gz")
    assert json.loads(docs[0]["meta"])["http_decoded"] == ["chunked"]
    assert docs[0]["text"].startswith("Main Page\n\nFrom Archiveteam") and "5db1" not in docs[0]["text"]


def test_misspelt_charset_label_falls_back_to_what_a_browser_reads(samples_dir, tmp_path):
    docs, drops = read(samples_dir / "commoncrawl/browsertrix-2024_qsl-net-charset-typo_warc2zim/qsl.net-encoding-alias.warc.gz")
    assert [d["url"] for d in docs] == ["https://www.qsl.net/vk2jem/swlogs.htm"]
    assert json.loads(docs[0]["meta"])["charset"] == "utf-8"  # its byte order mark; the <meta> says iso-8559-1
    assert "\u201c" in docs[0]["text"] and "\ufffd" not in docs[0]["text"]
    # the same typo in the HTTP header over a windows-1252 page whose <meta> is right: the <meta> decides
    html = real_html(samples_dir, "stats_140_petzi")
    docs, drops = read(write_warc_gz(tmp_path / "typo.warc.gz", [warc_record(0, html, "text/html; charset=iso-8559-1")]))
    assert drops == [] and json.loads(docs[0]["meta"])["charset"] == "cp1252" and "Registrieren" in docs[0]["text"]


@pytest.mark.parametrize("content_type", [None, "", "html", "text/html/x; charset", "unknown/unknown", "*/*"])
def test_missing_or_unparseable_content_type_is_sniffed(samples_dir, tmp_path, content_type):
    html = real_html(samples_dir, "0900-hovenier.nl")
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    docs, drops = read(write_warc_gz(tmp_path / "sniff.warc.gz", [warc_record(0, html, content_type),
                                                                   warc_record(1, png, content_type)]))
    assert urls(docs) == ["http://example.nl/0"] and json.loads(docs[0]["meta"])["sniffed_type"] == "text/html"
    assert "Een hovenier kan de werkzaamheden voor u uitvoeren" in docs[0]["text"]
    assert [d.reason for d in drops] == ["not_html"] and "does not sniff as HTML" in drops[0].detail


def test_gzip_content_coding_is_undone_and_a_broken_one_is_a_counted_drop(samples_dir, tmp_path):
    html = real_html(samples_dir, "0900-hovenier.nl")
    squeezed = gzip.compress(html)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(squeezed), squeezed)
    broken = bytearray(squeezed)
    broken[30:80] = b"\xff" * 50
    path = write_warc_gz(tmp_path / "coded.warc.gz", [
        warc_record(0, html),
        warc_record(1, squeezed, http_headers="Content-Encoding: gzip\r\n"),
        warc_record(2, chunked, http_headers="Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"),
        warc_record(3, html, http_headers="Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\nContent-Length: -1\r\n"),
        warc_record(4, bytes(broken), http_headers="Content-Encoding: gzip\r\n"),
    ])
    docs, drops = read(path)
    assert urls(docs) == [f"http://example.nl/{n}" for n in range(4)]
    assert len({d["text"] for d in docs}) == 1
    assert [json.loads(d["meta"]).get("http_decoded") for d in docs] == [None, ["gzip"], ["chunked", "gzip"], None]
    assert [d.reason for d in drops] == ["bad_content_encoding"]
    assert "000000000004>: Content-Encoding gzip: content coding does not inflate" in drops[0].detail


def revisit_record(n: int, profile: str, http: bytes) -> bytes:
    head = (f"WARC/1.1\r\nWARC-Type: revisit\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{n:012d}>\r\n"
            f"WARC-Date: 2020-08-09T17:00:00Z\r\nWARC-Target-URI: http://example.nl/{n}\r\n"
            f"WARC-Profile: http://netpreserve.org/warc/1.1/revisit/{profile}\r\n"
            f"WARC-Refers-To-Target-URI: http://example.nl/{n}\r\nWARC-Refers-To-Date: 2020-08-08T17:00:00Z\r\n"
            f"WARC-Payload-Digest: sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA{n:02d}\r\n"
            + ("Content-Type: application/http; msgtype=response\r\n" if http else "")
            + f"Content-Length: {len(http)}\r\n\r\n").encode()
    return head + http + b"\r\n\r\n"


def test_revisit_of_a_page_is_a_duplicate_and_of_anything_else_is_not_a_page(tmp_path):
    path = write_warc_gz(tmp_path / "revisits.warc.gz", [
        revisit_record(0, "identical-payload-digest", b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"),
        revisit_record(1, "server-not-modified", b"HTTP/1.1 304 Not Modified\r\n\r\n"),
        revisit_record(2, "identical-payload-digest", b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n"),
        revisit_record(3, "identical-payload-digest", b""),  # no stored headers at all
    ])
    docs, drops = read(path)
    assert docs == [] and [d.reason for d in drops] == ["revisit_duplicate", "revisit_duplicate", "not_html",
                                                         "revisit_duplicate"]
    assert ("000000000000>: duplicate of the capture of http://example.nl/0 (captured 2020-08-08T17:00:00Z, payload "
            "sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA00, profile http://netpreserve.org/warc/1.1/revisit/identical-payload-digest)"
            in drops[0].detail)


def test_revisits_are_counted_duplicates_of_originals_in_another_file(samples_dir):
    originals = {}
    with open(samples_dir / DATA_GOV_UK.format("121225068"), "rb") as stream:
        for record in ArchiveIterator(stream, record_types=WarcRecordType.response):
            originals[record.headers.get("WARC-Payload-Digest")] = record.headers.get("WARC-Target-URI")
    _, drops = read(samples_dir / DATA_GOV_UK.format("122341434"))
    revisits = [d for d in drops if d.reason == "revisit_duplicate"]
    assert len(revisits) == 26
    for drop in revisits:
        uri, digest = re.search(r"duplicate of the capture of (\S+) \(payload (sha1:\w+)", drop.detail).groups()
        assert originals[digest] == uri
    home = next(d for d in revisits if "capture of http://data.gov.uk/ " in d.detail)
    assert "profile http://netpreserve.org/warc/1.0/revisit/identical-payload-digest" in home.detail


def test_wet_record_keeps_text_url_date_and_record_id(samples_dir):
    path = samples_dir / WHIRLWIND / "whirlwind.warc.wet.gz"
    docs, drops = read(path, "cc-main-2024-22_whirlwind/whirlwind.warc.wet.gz")
    assert drops == [] and len(docs) == 1
    doc = docs[0]
    assert "Escopete ye un municipio d'a provincia de Guadalachara" in doc["text"]
    assert doc["url"] == "https://an.wikipedia.org/wiki/Escopete"
    assert doc["timestamp"] == "2024-05-18T01:58:10Z"
    meta = json.loads(doc["meta"])
    assert meta["warc_record_id"] == "<urn:uuid:ba729a40-ff84-4085-8d48-0a5b2ee0c42d>"
    assert meta["snapshot"] == "CC-MAIN-2024-22" and meta["format"] == "wet"


def test_warc_html_is_extracted_to_text(samples_dir):
    docs, drops = read(samples_dir / WHIRLWIND / "whirlwind.warc.gz")
    assert drops == [] and len(docs) == 1
    text = docs[0]["text"]
    assert "Iste articlo ye en proceso de cambio enta la ortografía oficial de Biquipedia" in text
    assert "<div" not in text and "<p>" not in text and "<script" not in text


def test_2020_crawl_pages_decode_with_their_charsets(samples_dir):
    docs, drops = read(samples_dir / CRAWL_2020, "cc-main-2020-34_resiliparse/warcfile.warc.gz")
    by_url = {d["url"]: d for d in docs}
    russian = by_url["http://01spb.ru/company/"]  # windows-1251, declared in the HTTP header
    assert "Стратегия пожарной безопасности" in russian["text"]
    assert json.loads(russian["meta"])["charset"] == "cp1251"
    dutch = by_url["http://0900-hovenier.nl/gelderland/oosterbeek/"]
    assert "Een hovenier kan de werkzaamheden voor u uitvoeren" in dutch["text"]
    german = by_url["http://06.live-radsport.ch/tippspiel/stats_140_petzi.html"]  # ISO-8859-1 from <meta>
    assert "Registrieren" in german["text"] and json.loads(german["meta"])["charset"] == "cp1252"
    gbk = by_url["http://037426.cn/"]  # declared gb2312, read as its superset GBK like browsers do
    assert "KUNSHAN STANLEY TRADING" in gbk["text"] and "\ufffd" not in gbk["text"]
    for doc in docs:
        assert "<div" not in doc["text"] and "<p>" not in doc["text"]
        assert len(doc["text"]) >= CCNET_MIN_DOC_CHARS
        meta = json.loads(doc["meta"])
        assert meta["snapshot"] == "CC-MAIN-2020-34" and meta["warc_record_id"].startswith("<urn:uuid:")
    # 16 HTML responses: 12 long enough, 4 under CCNet's 300 characters
    assert len(docs) == 12
    assert Counter(d.reason for d in drops) == {"too_short": 4}
    assert len({d["id"] for d in docs}) == 12


def test_min_chars_is_an_option(samples_dir):
    docs, drops = read(samples_dir / CRAWL_2020, min_doc_chars=0)
    assert len(docs) == 16 and drops == []


def test_clipped_gzip_is_a_counted_drop(samples_dir):
    docs, drops = read(samples_dir / "commoncrawl/bad_inputs/clipped.warc.gz")
    assert docs == []
    assert [d.reason for d in drops] == ["truncated_gzip"]
    assert "clipped.warc.gz" in drops[0].detail and "<urn:uuid:f3dfa8fa" in drops[0].detail


@pytest.mark.parametrize("bad_length", [40, 900, 10**6, "abc"])
def test_bad_content_length_is_quarantined_and_later_records_come_out(samples_dir, tmp_path, bad_length):
    html = real_html(samples_dir, "0900-hovenier.nl")
    path = write_warc_gz(tmp_path / "bad.warc.gz", [warc_record(n, html, content_length=bad_length if n == 1 else None)
                                                    for n in range(4)])
    docs, drops = read(path)
    assert urls(docs) == ["http://example.nl/0", "http://example.nl/2", "http://example.nl/3"]
    assert [d.reason for d in drops] == ["bad_content_length"]
    assert "bad.warc.gz" in drops[0].detail and "000000000001>" in drops[0].detail


@pytest.mark.parametrize("bad_length", [40, 900, 10**6, "abc"])
def test_bad_content_length_in_uncompressed_warc_resumes_at_the_next_record(samples_dir, tmp_path, bad_length):
    html = real_html(samples_dir, "0900-hovenier.nl")
    records = [warc_record(n, html, content_length=bad_length if n == 1 else None) for n in range(4)]
    path = tmp_path / "plain.warc"
    path.write_bytes(b"".join(records))
    docs, drops = read(path)
    assert urls(docs) == ["http://example.nl/0", "http://example.nl/2", "http://example.nl/3"]
    start, stop = len(records[0]), len(records[0]) + len(records[1])
    assert [d.reason for d in drops] == ["bad_content_length"]
    assert "plain.warc" in drops[0].detail and "000000000001>" in drops[0].detail
    assert f"bytes {start}-{stop}" in drops[0].detail and f"resumes at the next record, byte {stop}" in drops[0].detail


@pytest.mark.parametrize(("name", "scan_step"), [("plain.warc", 1 << 16), ("plain.warc.wet", 7), ("plain.wet", 64)])
def test_garbage_between_records_of_an_uncompressed_file_is_one_drop(samples_dir, tmp_path, monkeypatch, name, scan_step):
    monkeypatch.setattr(commoncrawl, "_SCAN_STEP", scan_step)  # small steps: record boundaries fall across reads
    html = real_html(samples_dir, "0900-hovenier.nl")
    records = [warc_record(n, html) for n in range(4)]
    garbage = b"\x00\xffnot a record\r\nWARC/1.0 in a sentence\r\n" * 50
    path = tmp_path / name
    path.write_bytes(b"".join(records[:2]) + garbage + b"".join(records[2:]))
    docs, drops = read(path)
    assert urls(docs) == [f"http://example.nl/{n}" for n in range(4)]
    start = len(records[0]) + len(records[1])
    assert [d.reason for d in drops] == ["bad_warc_header"]
    assert f"bytes {start}-{start + len(garbage)}: not a WARC record" in drops[0].detail


def test_two_damaged_stretches_in_an_uncompressed_file_are_two_drops(samples_dir, tmp_path):
    html = real_html(samples_dir, "0900-hovenier.nl")
    records = [warc_record(n, html, content_length=900 if n == 3 else None) for n in range(6)]
    path = tmp_path / "plain.warc"
    path.write_bytes(b"garbage\r\n" + b"".join(records[:2]) + b"garbage\r\n" + b"".join(records[2:]))
    docs, drops = read(path)
    assert urls(docs) == [f"http://example.nl/{n}" for n in (0, 1, 2, 4, 5)]
    assert [d.reason for d in drops] == ["bad_warc_header", "bad_warc_header", "bad_content_length"]
    assert "bytes 0-9:" in drops[0].detail and "000000000003>" in drops[2].detail


@pytest.mark.parametrize(("cut", "reason", "why"), [(100, "bad_warc_header", "a WARC header cut short"),
                                                    (3000, "bad_content_length", "Content-Length (15555)")])
def test_truncated_last_record_of_an_uncompressed_file_is_one_drop(samples_dir, tmp_path, cut, reason, why):
    html = real_html(samples_dir, "0900-hovenier.nl")
    records = [warc_record(n, html) for n in range(3)]
    start = len(records[0]) + len(records[1])
    path = tmp_path / "cut.warc"
    path.write_bytes(b"".join(records)[:start + cut])
    docs, drops = read(path)
    assert urls(docs) == ["http://example.nl/0", "http://example.nl/1"]
    assert [d.reason for d in drops] == [reason]
    assert f"bytes {start}-{start + cut}: " in drops[0].detail and why in drops[0].detail
    assert "no record follows" in drops[0].detail


def test_uncompressed_file_cut_inside_its_closing_blank_lines_keeps_the_record(samples_dir, tmp_path):
    html = real_html(samples_dir, "0900-hovenier.nl")
    path = tmp_path / "cut.warc"
    path.write_bytes((warc_record(0, html) + warc_record(1, html))[:-2])
    assert urls(read(path)[0]) == ["http://example.nl/0", "http://example.nl/1"] and read(path)[1] == []


def test_corrupt_gzip_member_keeps_earlier_records(samples_dir, tmp_path):
    html = real_html(samples_dir, "0900-hovenier.nl")
    good = b"".join(gzip.compress(warc_record(n, html)) for n in range(2))
    broken = bytearray(gzip.compress(warc_record(2, html)))
    broken[20:40] = b"\xff" * 20  # deflate data destroyed
    path = tmp_path / "corrupt.warc.gz"
    path.write_bytes(good + bytes(broken))
    docs, drops = read(path)
    assert urls(docs) == ["http://example.nl/0", "http://example.nl/1"]
    assert [d.reason for d in drops] == ["corrupt_gzip"]


def test_non_html_and_error_responses_are_skipped_with_reasons(samples_dir, tmp_path):
    html = real_html(samples_dir, "0900-hovenier.nl")
    path = write_warc_gz(tmp_path / "mixed.warc.gz", [
        warc_record(0, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, content_type="image/png"),
        warc_record(1, html, status="404 Not Found"),
        warc_record(2, html),
    ])
    docs, drops = read(path)
    assert urls(docs) == ["http://example.nl/2"]
    assert sorted(d.reason for d in drops) == ["http_status", "not_html"]


def test_invalid_bytes_in_a_page_are_replaced_and_counted(samples_dir, tmp_path):
    html = real_html(samples_dir, "0900-hovenier.nl").replace(b"Hovenier in Oosterbeek", b"Hovenier \xff\xfe in Oosterbeek")
    docs, drops = read(write_warc_gz(tmp_path / "bytes.warc.gz", [warc_record(0, html)]))
    assert drops == [] and len(docs) == 1
    assert "Hovenier \ufffd\ufffd in Oosterbeek" in docs[0]["text"]
    assert json.loads(docs[0]["meta"])["undecodable_bytes"] == 2 * html.count(b"\xff\xfe")


def test_oversized_record_is_dropped(samples_dir, tmp_path):
    html = real_html(samples_dir, "0900-hovenier.nl")
    docs, drops = read(write_warc_gz(tmp_path / "big.warc.gz", [warc_record(0, html), warc_record(1, html * 3)]),
                       max_doc_bytes=len(html) + 200)
    assert urls(docs) == ["http://example.nl/0"] and [d.reason for d in drops] == ["too_large"]


@pytest.mark.parametrize("name", ["empty.warc.gz", "empty.warc", "empty.warc.wet.gz"])
def test_empty_file_yields_nothing(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    assert read(tmp_path / name) == ([], [])


def test_output_is_deterministic(samples_dir):
    path = samples_dir / CRAWL_2020
    assert list(commoncrawl.read_documents(path, "a")) == list(commoncrawl.read_documents(path, "a"))


def test_cut_between_records_of_one_member_is_counted(samples_dir, tmp_path):
    html = real_html(samples_dir, "0900-hovenier.nl")
    records = [warc_record(n, html) for n in range(3)]
    whole = gzip.compress(b"".join(records))  # one gzip member for the whole file, as some tools write
    path = tmp_path / "one-member.warc.gz"
    path.write_bytes(whole[:-8])  # the gzip trailer (CRC, size) is lost
    docs, drops = read(path)
    assert urls(docs) == ["http://example.nl/0", "http://example.nl/1", "http://example.nl/2"]
    assert [d.reason for d in drops] == ["truncated_gzip"]


def test_wet_with_invalid_utf8_is_replaced_and_counted(samples_dir, tmp_path):
    with gzip.open(samples_dir / WHIRLWIND / "whirlwind.warc.wet.gz") as stream:
        wet = stream.read()
    start = wet.index(b"WARC/1.0", 10)  # the conversion record after the warcinfo
    record = wet[start:].replace(b"Escopete ye un", b"Escopete \xff ye un")
    length = int(re.search(rb"Content-Length: (\d+)", record).group(1)) + 1
    record = re.sub(rb"Content-Length: \d+", f"Content-Length: {length}".encode(), record, count=1)
    path = tmp_path / "bytes.warc.wet.gz"
    path.write_bytes(gzip.compress(record))
    docs, drops = read(path)
    assert drops == [] and "Escopete \ufffd ye un" in docs[0]["text"]
    assert json.loads(docs[0]["meta"])["undecodable_bytes"] == 1
