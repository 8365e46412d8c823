from __future__ import annotations

import bz2
import json
import re
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from corpus.recipe import WIKIPEDIA_LANGUAGES
from corpus.schema import Drop
from corpus.sources import wikipedia

ENWIKI = "wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
MINIDUMPS = "wikipedia/dbpedia-minidumps"
MARKUP = ("{{", "}}", "[[", "]]", "<ref", "{|", "|}", "Category:")


def read(path: Path, name: str | None = None, **options) -> tuple[list[dict], list[Drop]]:
    records = list(wikipedia.read_documents(path, name or path.name, **options))
    return [r for r in records if isinstance(r, dict)], [r for r in records if isinstance(r, Drop)]


def titles(docs: list[dict]) -> list[str]:
    return [json.loads(d["meta"])["title"] for d in docs]


@pytest.fixture(scope="module")
def enwiki_xml(samples_dir) -> bytes:
    return bz2.decompress((samples_dir / ENWIKI).read_bytes())


@pytest.fixture(scope="module")
def enwiki_docs(samples_dir) -> list[dict]:
    docs, drops = read(samples_dir / ENWIKI, ENWIKI)
    assert drops == []
    return docs


def test_discover_finds_every_dump(samples_dir):
    found = [p.name for p in wikipedia.discover_inputs(samples_dir / "wikipedia")]
    assert found == sorted(f"{lang}wiki.xml.bz2" for lang in ("de", "es", "fr", "it", "nl", "pl", "ru", "sv", "uk")) + [Path(ENWIKI).name]


def test_enwiki_article_text_without_markup(enwiki_docs):
    anarchism = next(d for d in enwiki_docs if json.loads(d["meta"])["title"] == "Anarchism")
    assert anarchism["text"].startswith("Anarchism is a political philosophy that advocates self-governed societies "
                                        "based on voluntary institutions.")
    assert anarchism["url"] == "https://en.wikipedia.org/wiki/Anarchism" and anarchism["lang"] == "en"
    assert "\nHistory\n" in anarchism["text"]  # headings kept as plain lines
    assert "[[Category:" not in anarchism["text"] and "Political culture" not in anarchism["text"]
    for doc in enwiki_docs:
        leftovers = [m for m in MARKUP if m in doc["text"]]
        assert not leftovers, f"{doc['url']}: markup {leftovers}"


def test_enwiki_redirects_and_ids(enwiki_xml, enwiki_docs):
    redirects = set(re.findall(rb"<title>([^<]*)</title>\s*<ns>0</ns>\s*<id>\d+</id>\s*<redirect", enwiki_xml))
    assert len(redirects) == 99
    names = titles(enwiki_docs)
    assert "AccessibleComputing" not in names and "AfghanistanHistory" not in names
    assert not {n.encode() for n in names} & redirects
    assert len(enwiki_docs) == enwiki_xml.count(b"<ns>0</ns>") - len(redirects) == 106
    assert len({d["id"] for d in enwiki_docs}) == len(enwiki_docs)


def test_cited_urls_are_kept_in_meta(enwiki_docs):
    meta = json.loads(next(d for d in enwiki_docs if json.loads(d["meta"])["title"] == "Anarchism")["meta"])
    urls = meta["cited_urls"]
    assert urls == sorted(set(urls))
    assert "http://www.zmag.org/content/showarticle.cfm?SectionID=41&ItemID=4796" in urls  # inside a <ref>
    assert all(u.startswith(("http://", "https://")) for u in urls)


def test_cited_urls_function():
    wikitext = ("See [http://example.org/a Example] and http://bare.example.net/b.<ref>{{cite web |url=https://cited.example/c"
                " |archive-url=https://web.archive.org/web/1/https://cited.example/c |title=C}}</ref>"
                "<ref>{{cite book|chapter-url=//proto.example/d|title=D}} https://in-ref.example/e</ref>"
                "[http://example.org/a again]")
    assert wikipedia.cited_urls(wikitext) == ["http://bare.example.net/b", "http://example.org/a", "https://cited.example/c",
                                             "https://in-ref.example/e", "https://proto.example/d"]


@pytest.mark.parametrize("lang", ["de", "es", "fr", "it", "nl", "pl", "ru", "sv", "uk"])
def test_minidumps_get_their_language(samples_dir, lang):
    docs, drops = read(samples_dir / MINIDUMPS / f"{lang}wiki.xml.bz2", f"dbpedia-minidumps/{lang}wiki.xml.bz2")
    assert drops == [] and docs
    assert {d["lang"] for d in docs} == {lang}  # the file name wins over the re-export's English siteinfo
    assert all(d["url"].startswith(f"https://{lang}.wikipedia.org/wiki/") for d in docs)
    for doc in docs:
        assert not [m for m in MARKUP if m in doc["text"]], doc["url"]


def test_localized_categories_and_files_removed(samples_dir):
    docs, _ = read(samples_dir / MINIDUMPS / "dewiki.xml.bz2")
    berlin = next(d for d in docs if json.loads(d["meta"])["title"] == "Berlin")
    assert "Berlin () ist Hauptstadt und als Land eine parlamentarische Republik" in berlin["text"]
    assert "Kategorie:" not in berlin["text"] and "Datei:" not in berlin["text"]
    assert "Straße des 17.\xa0Juni als Ost-West-Achse" in berlin["text"]  # link text kept, &nbsp; decoded
    fr_docs, _ = read(samples_dir / MINIDUMPS / "frwiki.xml.bz2")
    assert set(titles(fr_docs)) == {"Antoine Meillet", "Autriche", "Berlin"}
    assert not any("Catégorie:" in d["text"] or "Fichier:" in d["text"] for d in fr_docs)


def test_language_outside_the_recipe_is_skipped(enwiki_xml, tmp_path):
    assert "ja" not in WIKIPEDIA_LANGUAGES
    path = tmp_path / "jawiki-latest-pages-articles.xml"
    path.write_bytes(enwiki_xml)
    docs, drops = read(path)
    assert docs == [] and [d.reason for d in drops] == ["language_not_in_recipe"]


def test_language_from_siteinfo_when_the_name_has_none(enwiki_xml, tmp_path):
    path = tmp_path / "pages.xml"
    path.write_bytes(enwiki_xml.replace(b"<dbname>enwiki</dbname>", b"<dbname>svwiki</dbname>", 1))
    docs, _ = read(path)
    assert len(docs) == 106 and {d["lang"] for d in docs} == {"sv"}
    path.write_bytes(enwiki_xml.replace(b"<dbname>enwiki</dbname>", b"<dbname>zhwiki</dbname>", 1)
                     .replace(b"https://en.wikipedia.org", b"https://zh.wikipedia.org", 1))
    docs, drops = read(path)
    assert docs == [] and [d.reason for d in drops] == ["language_not_in_recipe"]


def test_malformed_xml_keeps_pages_before_the_damage(enwiki_xml, enwiki_docs, tmp_path):
    cut = enwiki_xml.index(b"<title>Alabama</title>")
    damaged = enwiki_xml[:cut] + b"<title>Alabama</tit<<le>" + enwiki_xml[cut + 22:]
    path = tmp_path / "enwiki-damaged.xml"
    path.write_bytes(damaged)
    docs, drops = read(path)
    before = {t.decode() for t in re.findall(rb"<title>([^<]*)</title>", enwiki_xml[:cut])}
    assert titles(docs) == [t for t in titles(enwiki_docs) if t in before]
    assert "Anarchism" in titles(docs) and "Alabama" not in titles(docs)
    assert [d.reason for d in drops] == ["malformed_xml"]
    assert "enwiki-damaged.xml" in drops[0].detail and "line" in drops[0].detail


def test_truncated_bz2_keeps_pages_before_the_cut(samples_dir, tmp_path):
    data = (samples_dir / ENWIKI).read_bytes()
    path = tmp_path / "enwiki-cut.xml.bz2"
    path.write_bytes(data[: len(data) // 2])
    docs, drops = read(path)
    assert 10 < len(docs) < 106
    assert [d.reason for d in drops] == ["corrupt_file"] and "enwiki-cut.xml.bz2" in drops[0].detail


def test_invalid_utf8_inside_a_page_is_counted_not_a_crash(enwiki_xml, tmp_path):
    at = enwiki_xml.index(b"'''Alabama''' (")
    path = tmp_path / "enwiki-bytes.xml"
    path.write_bytes(enwiki_xml[:at] + b"\xff\xfe" + enwiki_xml[at:])
    docs, drops = read(path)
    assert "Anarchism" in titles(docs) and "Alabama" not in titles(docs)
    assert [d.reason for d in drops] == ["malformed_xml"] and "encoding" in drops[0].detail


@pytest.mark.parametrize("name", ["enwiki-empty.xml", "enwiki-empty.xml.bz2"])
def test_empty_file_yields_nothing(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    assert read(tmp_path / name) == ([], [])


SITE = '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/"><siteinfo><dbname>enwiki</dbname></siteinfo>'


def one_page(doctype: str, text: str) -> str:
    return (f'<?xml version="1.0"?>\n{doctype}\n{SITE}<page><title>T</title><ns>0</ns><id>1</id>'
            f"<revision><id>2</id><text>{text}</text></revision></page></mediawiki>")


def test_external_entity_does_not_read_local_files(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    path = tmp_path / "enwiki-xxe.xml"
    path.write_text(one_page(f'<!DOCTYPE mediawiki [<!ENTITY xxe SYSTEM "file://{secret}">'
                             '<!ENTITY pw SYSTEM "file:///etc/passwd">]>', "Leak: &xxe; &pw; end"))
    records = list(wikipedia.read_documents(path, path.name))
    dumped = repr(records)
    assert "TOP-SECRET-CONTENT" not in dumped and "root:" not in dumped


def test_billion_laughs_does_not_expand(tmp_path):
    entities = '<!ENTITY lol0 "lol">' + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    path = tmp_path / "enwiki-lol.xml"
    path.write_text(one_page(f"<!DOCTYPE mediawiki [{entities}]>", "Boom &lol9; end"))
    started = time.monotonic()
    records = list(wikipedia.read_documents(path, path.name))
    assert time.monotonic() - started < 5
    assert sum(len(r["text"]) for r in records if isinstance(r, dict)) < 1000
    assert all(r.reason == "malformed_xml" for r in records if isinstance(r, Drop))


def test_output_is_deterministic(samples_dir):
    path = samples_dir / MINIDUMPS / "frwiki.xml.bz2"
    assert list(wikipedia.read_documents(path, "a")) == list(wikipedia.read_documents(path, "a"))


def write_large_dump(xml: bytes, path: Path, target_bytes: int, article_every: int) -> tuple[int, int]:
    """Repeat the sample's pages with fresh ids up to ``target_bytes``; every ``article_every``-th copy stays
    in namespace 0 (converted), the others move to the Talk namespace (streamed and skipped), so the run
    is bound by XML streaming rather than by wikitext parsing on this small machine."""
    head, rest = xml.split(b"<page>", 1)
    pages = [b"<page>" + p.split(b"</page>", 1)[0] + b"</page>\n" for p in (b"<page>" + rest).split(b"<page>")[1:]]
    written, copies, articles = 0, 0, 0
    with open(path, "wb") as out:
        out.write(head)
        while written < target_bytes:
            for page in pages:
                copies += 1
                page = re.sub(rb"<id>\d+</id>", f"<id>{copies}</id>".encode(), page, count=1)
                if copies % article_every:
                    page = page.replace(b"<ns>0</ns>", b"<ns>1</ns>", 1)
                else:
                    articles += 1
                out.write(page)
                written += len(page)
        out.write(b"</mediawiki>\n")
    return copies, articles


@pytest.mark.slow
def test_memory_stays_flat_on_a_large_dump(enwiki_xml, tmp_path):
    path = tmp_path / "enwiki-large.xml"
    pages, articles = write_large_dump(enwiki_xml, path, 1 << 30, article_every=25)
    process = psutil.Process()
    baseline = peak = process.memory_info().rss
    started, docs, drops = time.monotonic(), 0, Counter()
    for record in wikipedia.read_documents(path, path.name):
        if isinstance(record, Drop):
            drops[record.reason] += 1
        else:
            docs += 1
        peak = max(peak, process.memory_info().rss)
    seconds = time.monotonic() - started
    growth_mb = (peak - baseline) / 2**20
    print(f"\n{path.stat().st_size / 2**20:.0f} MB dump, {pages} pages ({articles} articles): {docs} docs in {seconds:.0f}s "
          f"({pages / seconds:.0f} pages/s, {docs / seconds:.1f} docs/s); RSS growth {growth_mb:.0f} MB")
    assert not drops
    assert docs > 0
    assert growth_mb < 300
