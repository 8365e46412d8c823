"""StackExchange post bodies (HTML) to plain text with a real parser (lxml.html), keeping the shape a
reader sees: paragraphs apart by a blank line, list items as ``- item`` / ``1. item`` lines (nested
items indented), code kept verbatim, links as their text, entities decoded."""
from __future__ import annotations

import re

import lxml.html
from lxml import etree

_BLOCK_TAGS = frozenset({
    "p", "div", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr",
    "dl", "dt", "dd", "hr", "section", "article", "details", "summary", "figure", "figcaption",
})
_CELL_TAGS = frozenset({"td", "th"})
_SKIPPED_TAGS = frozenset({"script", "style"})
_WHITESPACE = re.compile(r"\s+")
_LIST_INDENT = "  "


class _Blocks:
    """Paragraph blocks being built: inline text joins the open block, a block tag closes it."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.open: list[str] = []

    def inline(self, text: str | None) -> None:
        if text:
            self.open.append(_WHITESPACE.sub(" ", text))

    def line_break(self) -> None:
        self.open.append("\n")

    def close(self) -> None:
        lines = (line.strip() for line in "".join(self.open).split("\n"))
        text = "\n".join(line for line in lines if line)
        if text:
            self.blocks.append(text)
        self.open = []

    def block(self, text: str) -> None:
        self.close()
        if text:
            self.blocks.append(text)


def html_to_text(html: str) -> str:
    if not html.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return ""
    return "\n\n".join(_render(root))


def _render(element: etree._Element) -> list[str]:
    blocks = _Blocks()
    blocks.inline(element.text)
    for child in element:
        _walk(child, blocks)
    blocks.close()
    return blocks.blocks


def _walk(element: etree._Element, blocks: _Blocks) -> None:
    tag = element.tag if isinstance(element.tag, str) else None  # comments and PIs: skip, keep the tail
    if tag == "pre":
        blocks.block(element.text_content().strip("\n"))
    elif tag in ("ul", "ol"):
        blocks.block(_list_text(element, numbered=tag == "ol"))
    elif tag == "br":
        blocks.line_break()
    elif tag in _BLOCK_TAGS:
        blocks.close()
        blocks.inline(element.text)
        for child in element:
            _walk(child, blocks)
        blocks.close()
    elif tag in _CELL_TAGS:
        if blocks.open:
            blocks.inline(" | ")
        blocks.inline(element.text)
        for child in element:
            _walk(child, blocks)
    elif tag is not None and tag not in _SKIPPED_TAGS:
        blocks.inline(element.text)
        for child in element:
            _walk(child, blocks)
    blocks.inline(element.tail)


def _list_text(element: etree._Element, numbered: bool) -> str:
    lines: list[str] = []
    items = [child for child in element if child.tag == "li"]
    for number, item in enumerate(items, start=1):
        marker = f"{number}. " if numbered else "- "
        item_lines = "\n".join(_render(item)).split("\n")
        lines.append(marker + item_lines[0])
        lines.extend(_LIST_INDENT + line for line in item_lines[1:])
    return "\n".join(lines)
