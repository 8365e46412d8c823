"""Wikitext to plain text, and the URLs an article cites, over one mwparserfromhell parse.

The recipe removes templates, references, comments, tables, files/images and categories, and keeps
link text; headings stay as plain lines. Images and categories are recognised by their namespace
name in the article's language (dumps re-exported via Special:Export can carry an English siteinfo),
interlanguage links by a language-code prefix.
"""
from __future__ import annotations

import re

from mwparserfromhell.nodes import ExternalLink, Heading, HTMLEntity, Node, Tag, Template, Text, Wikilink
from mwparserfromhell.wikicode import Wikicode

# Namespace names (canonical English ones work in every wiki) of the links that do not render as
# text: Media (-2), File (6, with its old alias Image) and Category (14), per recipe language.
NON_TEXT_NAMESPACES: dict[str, tuple[str, ...]] = {
    "bg": ("медия", "файл", "картинка", "категория"),
    "ca": ("multimèdia", "fitxer", "imatge", "categoria"),
    "cs": ("média", "soubor", "obrázek", "kategorie"),
    "da": ("medie", "fil", "billede", "kategori"),
    "de": ("medium", "datei", "bild", "kategorie"),
    "en": (),
    "es": ("medio", "archivo", "imagen", "categoría"),
    "fr": ("média", "fichier", "catégorie"),
    "hr": ("mediji", "datoteka", "slika", "kategorija"),
    "hu": ("média", "fájl", "kép", "kategória"),
    "it": ("immagine", "categoria"),
    "nl": ("media", "bestand", "afbeelding", "categorie"),
    "pl": ("media", "plik", "grafika", "kategoria"),
    "pt": ("multimédia", "ficheiro", "arquivo", "imagem", "categoria"),
    "ro": ("media", "fișier", "fişier", "imagine", "categorie"),
    "ru": ("медиа", "файл", "изображение", "категория"),
    "sl": ("datoteka", "slika", "kategorija"),
    "sr": ("медиј", "датотека", "слика", "категорија", "datoteka", "slika", "kategorija"),
    "sv": ("media", "fil", "bild", "kategori"),
    "uk": ("медіа", "файл", "зображення", "категорія"),
}
CANONICAL_NON_TEXT_NAMESPACES = ("media", "file", "image", "category")
# Content of these tags is not article prose (footnotes, tables, galleries, formulas, maps, charts).
DROPPED_TAGS = frozenset({"ref", "references", "table", "gallery", "math", "chem", "ce", "score", "timeline",
                          "imagemap", "graph", "mapframe", "maplink", "templatedata", "templatestyles", "indicator"})
LINE_BREAK_TAGS = frozenset({"br", "hr"})
INTERLANGUAGE_PREFIX = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]+)*")
STYLE_QUOTES = re.compile(r"'{2,}")  # bold/italic runs, left as text (skip_style_tags: unbalanced ones broke parsing)
BEHAVIOUR_SWITCH = re.compile(r"__[A-Z]+__")
BLANK_LINES = re.compile(r"\n{3,}")
URL_SCHEMES = ("http://", "https://")


def non_text_namespaces(lang: str, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """Lower-cased namespace prefixes whose links are removed, for one language (plus a siteinfo's)."""
    return frozenset(CANONICAL_NON_TEXT_NAMESPACES + NON_TEXT_NAMESPACES.get(lang, ()) + extra)


def plain_text(code: Wikicode, dropped_namespaces: frozenset[str]) -> str:
    parts: list[str] = []
    _render(code, dropped_namespaces, parts)
    text = STYLE_QUOTES.sub("", BEHAVIOUR_SWITCH.sub("", "".join(parts)))
    lines = (line.strip() for line in text.splitlines())
    return BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _render(code: Wikicode, dropped: frozenset[str], out: list[str]) -> None:
    for node in code.nodes:
        if isinstance(node, Text):
            out.append(node.value)
        elif isinstance(node, Wikilink):
            _render_link(node, dropped, out)
        elif isinstance(node, ExternalLink):
            if node.title is not None:  # a bare or unlabelled URL is not prose
                _render(node.title, dropped, out)
        elif isinstance(node, Heading):
            out.append("\n")
            _render(node.title, dropped, out)
            out.append("\n")
        elif isinstance(node, HTMLEntity):
            out.append(node.normalize())
        elif isinstance(node, Tag):
            _render_tag(node, dropped, out)
        # Template, Argument, Comment and anything else: removed


def _rendered(code: Wikicode) -> str:
    parts: list[str] = []
    _render(code, frozenset(), parts)
    return "".join(parts)


def _render_tag(tag: Tag, dropped: frozenset[str], out: list[str]) -> None:
    name = str(tag.tag).strip().lower()
    if name in DROPPED_TAGS:
        return
    if name in LINE_BREAK_TAGS:
        out.append("\n")
    elif tag.contents is not None:  # bold/italic, span, div, nowiki, list markers (no contents), ...
        _render(tag.contents, dropped, out)


def _render_link(link: Wikilink, dropped: frozenset[str], out: list[str]) -> None:
    target = str(link.title).strip()
    prefix, has_prefix, _ = target.partition(":")
    if has_prefix and not target.startswith(":"):  # a leading colon makes a namespace link inline text
        prefix = prefix.strip().replace("_", " ").lower()
        if prefix in dropped or INTERLANGUAGE_PREFIX.fullmatch(prefix):
            return
    if link.text is not None:
        _render(link.text, dropped, out)
    else:
        out.append(_rendered(link.title).strip().lstrip(":"))


def cited_urls_of(code: Wikicode) -> list[str]:
    """External links (bracketed, bare, inside refs) and citation templates' ``url`` parameters; archive
    copies (``archive-url``) are left out since they duplicate the cited page."""
    found: set[str] = set()
    _collect_urls(code.nodes, found)
    return sorted(found)


def _collect_urls(nodes: list[Node], found: set[str]) -> None:
    for node in nodes:
        if isinstance(node, ExternalLink):
            _add_url(str(node.url), found)
            if node.title is not None:
                _collect_urls(node.title.nodes, found)
        elif isinstance(node, Template):
            for param in node.params:
                name = str(param.name).strip().lower()
                if "archive" in name:
                    continue
                if name.endswith("url"):  # url, chapter-url, chapterurl, conference-url, ...
                    _add_url(param.value.strip_code().strip(), found)
                _collect_urls(param.value.nodes, found)
        elif isinstance(node, Tag) and node.contents is not None:
            _collect_urls(node.contents.nodes, found)
        elif isinstance(node, Wikilink) and node.text is not None:
            _collect_urls(node.text.nodes, found)
        elif isinstance(node, Heading):
            _collect_urls(node.title.nodes, found)


def _add_url(url: str, found: set[str]) -> None:
    url = url.strip()
    if url.startswith("//"):  # protocol-relative
        url = "https:" + url
    if url.lower().startswith(URL_SCHEMES) and len(url) > len("https://") and not any(c.isspace() for c in url):
        found.add(url)
