"""Wikipedia ``pages-articles`` XML dumps (``.xml``, ``.xml.bz2``): article text of the recipe's 20 languages.

The dump is streamed with lxml ``iterparse``, each page cleared once read, so memory holds one page.
The parser never loads a DTD, never resolves entities and never touches the network: an external
entity cannot read local files and an entity bomb cannot expand. Only namespace 0 is read and
redirects are skipped; markup goes through ``corpus.sources.wikipedia_markup``.

The language comes from the file name (``<lang>wiki-...``, Wikimedia's dump naming), else the
``<siteinfo>`` (dbname, base URL): re-exported dumps are known to carry an English siteinfo. Damage
mid-file (malformed XML, invalid UTF-8, a truncated bz2) keeps every page before it and is counted.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import mwparserfromhell
from lxml import etree
from mwparserfromhell.parser import ParserError

from corpus.compression import open_stream, stream_damage
from corpus.recipe import WIKIPEDIA_LANGUAGES
from corpus.schema import Drop, new_document
from corpus.sources.wikipedia_markup import cited_urls_of, non_text_namespaces, plain_text

SOURCE = "wikipedia"
STAGE = "ingest"
DEFAULT_MAX_DOC_BYTES = 16 << 20
COMPRESSED_SUFFIXES = (".bz2", ".gz", ".xz", ".zst")
DUMP_NAME = re.compile(r"\.xml(?:[-.][^/]*)?$")  # x.xml, x.xml.bz2, enwiki-...-articles1.xml-p10p30302.bz2
WIKI_PREFIX = re.compile(r"^([a-z]{2,3}(?:_[a-z]+)*)wiki\b")  # dewiki-latest..., dbname dewiki
WIKIPEDIA_HOST = re.compile(r"^https?://([a-z]{2,3}(?:-[a-z]+)*)\.wikipedia\.org/", re.IGNORECASE)
ARTICLE_NAMESPACE = "0"
FILE_NAMESPACE_KEYS = ("-2", "6", "14")  # Media, File, Category
URL_SAFE = "/:(),'!*;@$+=-._~"


def discover_inputs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and _is_dump(p.name.lower()))


def _is_dump(name: str) -> bool:
    for suffix in COMPRESSED_SUFFIXES:
        name = name.removesuffix(suffix)
    return DUMP_NAME.search(name) is not None


def cited_urls(wikitext: str) -> list[str]:
    """The sorted unique http(s) URLs an article cites (links, bare URLs, refs, citation templates)."""
    return cited_urls_of(mwparserfromhell.parse(wikitext))


def read_documents(path: Path, name: str, max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES) -> Iterator[dict[str, Any] | Drop]:
    dump = _Dump(path, name, max_doc_bytes)
    last_page, syntax_error = "none yet", None
    with open_stream(path) as stream:
        if not stream.peek(1):
            return  # an empty file is no dump, and no damage
        parser = etree.iterparse(stream, events=("end",), tag=("{*}siteinfo", "{*}page"), resolve_entities=False,
                                 load_dtd=False, no_network=True, dtd_validation=False, huge_tree=False)
        try:
            for _, element in parser:
                if etree.QName(element).localname == "siteinfo":
                    dump.read_siteinfo(element)
                else:
                    last_page = element.findtext("{*}id") or last_page
                    yield from dump.page(element)
                    if dump.stopped:
                        return
                _release(element)
        except etree.XMLSyntaxError as exc:
            syntax_error = exc
        damage = stream_damage(stream)
    if damage:  # a cut or corrupt compressed stream also ends the XML early: report the cause
        yield dump.drop("damaged", "corrupt_file", f"{damage} (after page id {last_page})")
    elif syntax_error is not None:
        line, column = syntax_error.position
        yield dump.drop("malformed_xml", "malformed_xml", f"XML error at line {line}, column {column} "
                        f"(after page id {last_page}): {syntax_error.msg}; rest of file skipped")


def _release(element: etree._Element) -> None:
    """Free a finished element and the already-read siblings the root still holds."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


class _Dump:
    def __init__(self, path: Path, name: str, max_doc_bytes: int):
        self.path, self.name, self.max_doc_bytes = path, name, max_doc_bytes
        found = WIKI_PREFIX.match(path.name.lower())
        self.lang = found.group(1).replace("_", "-") if found else None
        self.namespace_names: tuple[str, ...] = ()
        self.stopped = False

    def read_siteinfo(self, siteinfo: etree._Element) -> None:
        if self.lang is None:
            dbname = WIKI_PREFIX.match((siteinfo.findtext("{*}dbname") or "").strip().lower())
            host = WIKIPEDIA_HOST.match((siteinfo.findtext("{*}base") or "").strip())
            found = dbname or host
            self.lang = found.group(1).replace("_", "-").lower() if found else None
        self.namespace_names = tuple(sorted(
            (ns.text or "").strip().lower() for ns in siteinfo.iterfind("{*}namespaces/{*}namespace")
            if ns.get("key") in FILE_NAMESPACE_KEYS and (ns.text or "").strip()))

    def page(self, page: etree._Element) -> Iterator[dict[str, Any] | Drop]:
        if self.lang not in WIKIPEDIA_LANGUAGES:
            self.stopped = True
            if self.lang is None:
                yield self.drop("language", "unknown_language", "no <lang>wiki file name and no siteinfo dbname/base URL")
            else:
                yield self.drop("language", "language_not_in_recipe",
                                f"language {self.lang!r} is not one of the recipe's {len(WIKIPEDIA_LANGUAGES)}")
            return
        if (page.findtext("{*}ns") or "").strip() != ARTICLE_NAMESPACE or page.find("{*}redirect") is not None:
            return
        page_id = (page.findtext("{*}id") or "").strip()
        title = (page.findtext("{*}title") or "").strip()
        revisions = page.findall("{*}revision")
        if not revisions:
            yield self.drop(page_id, "no_revision", f"page {page_id} {title!r} has no revision")
            return
        revision = revisions[-1]
        wikitext = revision.findtext("{*}text") or ""
        if wikitext.lstrip()[:9].upper() == "#REDIRECT":  # an old dump without <redirect/>
            return
        size = len(wikitext.encode("utf-8", "surrogatepass"))
        if size > self.max_doc_bytes:
            yield self.drop(page_id, "too_large", f"page {page_id} {title!r}: {size} bytes over {self.max_doc_bytes}")
            return
        try:
            code = mwparserfromhell.parse(wikitext, skip_style_tags=True)
            text = plain_text(code, non_text_namespaces(self.lang, self.namespace_names))
        except (ParserError, RecursionError) as exc:
            yield self.drop(page_id, "markup_error", f"page {page_id} {title!r}: {exc!r}")
            return
        if not text:
            yield self.drop(page_id, "empty_text", f"page {page_id} {title!r}: no text left after markup removal")
            return
        meta = {"title": title, "page_id": page_id, "revision_id": (revision.findtext("{*}id") or "").strip(),
                "cited_urls": cited_urls_of(code)}
        url = f"https://{self.lang}.wikipedia.org/wiki/{quote(title.replace(' ', '_'), safe=URL_SAFE)}"
        yield new_document(SOURCE, f"{self.name}:{page_id}", text, url=url, path=self.name, lang=self.lang,
                           timestamp=revision.findtext("{*}timestamp"), meta=meta)

    def drop(self, key: str, reason: str, detail: str) -> Drop:
        return Drop.at(SOURCE, f"{self.name}:{key}", STAGE, reason, f"{self.path}: {detail}")
