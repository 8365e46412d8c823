"""RedPajama v1's per-file GitHub rules, without its header-removal defect.

RedPajama cut every leading line starting with ``#``, ``//`` or ``--`` before looking for a
copyright block, so a C file lost its ``#include`` lines and a script its ``#!`` line. Here the
comment syntax comes from the file's language (``#`` is a comment in Python or Shell, a preprocessor
directive in C), a shebang line is always kept, and only one leading comment block that mentions
"copyright" is cut.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from corpus.filters.license import is_license_file_name
from corpus.recipe import (
    GITHUB_EXTENSION_LANGUAGES,
    GITHUB_FILE_NAME_LANGUAGES,
    GITHUB_MAX_LINE_CHARS,
    GITHUB_MAX_MEAN_LINE_CHARS,
    GITHUB_MIN_ALNUM_FRACTION,
    GITHUB_MIN_ALPHA_PER_TOKEN,
    GITHUB_SKIP_SUFFIXES,
)


@dataclass(frozen=True)
class CommentSyntax:
    line: tuple[str, ...] = ()
    block: tuple[tuple[str, str], ...] = ()


_C_LIKE = CommentSyntax(("//",), (("/*", "*/"),))
_HASH = CommentSyntax(("#",))
_MARKUP = CommentSyntax(block=(("<!--", "-->"),))
COMMENT_SYNTAX: dict[str, CommentSyntax] = {
    **dict.fromkeys(("C", "C#", "C++", "Go", "Java", "JavaScript", "Objective-C", "Rust", "Scala", "TypeScript"), _C_LIKE),
    "PHP": CommentSyntax(("//", "#"), (("/*", "*/"),)),
    "CSS": CommentSyntax(block=(("/*", "*/"),)),
    **dict.fromkeys(("CMake", "Dockerfile", "Makefile", "Perl", "Python", "Ruby", "Shell", "Julia", "Smali"), _HASH),
    "PowerShell": CommentSyntax(("#",), (("<#", "#>"),)),
    "Haskell": CommentSyntax(("--",), (("{-", "-}"),)),
    "Lua": CommentSyntax(("--",)),
    "SQL": CommentSyntax(("--",), (("/*", "*/"),)),
    "Fortran": CommentSyntax(("!",)),
    "TeX": CommentSyntax(("%",)),
    "Assembly": CommentSyntax((";",)),
    "Batchfile": CommentSyntax(("::", "REM ", "rem ", "@REM ", "@rem ")),
    "Visual Basic": CommentSyntax(("'",)),
    **dict.fromkeys(("HTML", "XML", "Markdown"), _MARKUP),
}
_COPYRIGHT = re.compile("copyright", re.IGNORECASE)
_BLANK_LINES = re.compile(r"(?:[ \t]*\r?\n)+")
_ASCII_ALPHA = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_ASCII_ALNUM = _ASCII_ALPHA | frozenset(b"0123456789")
# bytes.translate deletion tables: every byte but the ASCII letters (and digits); UTF-8 bytes of
# other characters go too, and those characters are counted one by one.
_DELETE_BUT_ALNUM = bytes(b for b in range(256) if b not in _ASCII_ALNUM)
_DELETE_BUT_ALPHA = bytes(b for b in range(256) if b not in _ASCII_ALPHA)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def language_of(path: str) -> str | None:
    """The language of an allow-listed file name, or None (the file is not source code we keep)."""
    name = PurePosixPath(path).name
    if name in GITHUB_FILE_NAME_LANGUAGES:
        return GITHUB_FILE_NAME_LANGUAGES[name]
    suffix = PurePosixPath(name).suffix
    return GITHUB_EXTENSION_LANGUAGES.get(suffix) if suffix else None


def path_skip_reason(path: str) -> str | None:
    """Why a file is skipped from its name alone: ``certificate``, ``license_file`` or ``extension``."""
    name = PurePosixPath(path).name
    if name.endswith(GITHUB_SKIP_SUFFIXES):
        return "certificate"
    if is_license_file_name(name):
        return "license_file"
    if language_of(path) is None:
        return "extension"
    return None


def decode_source(raw: bytes) -> str | None:
    """The text of a source file, or None for a binary one (a NUL byte, or not UTF-8)."""
    if b"\x00" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _comment_block_end(text: str, start: int, syntax: CommentSyntax) -> int:
    """End offset of the comment block at ``start`` (a ``/* */``-style block or a run of line
    comments), or ``start`` when no comment starts there."""
    indent = len(text[start:]) - len(text[start:].lstrip(" \t"))
    head = start + indent
    for opener, closer in syntax.block:
        if text.startswith(opener, head):
            close = text.find(closer, head + len(opener))
            if close < 0:
                return start  # an unclosed block is not a header we can cut safely
            end = close + len(closer)
            line_end = text.find("\n", end)
            rest = text[end:] if line_end < 0 else text[end:line_end]
            return (len(text) if line_end < 0 else line_end + 1) if not rest.strip() else end
    end = start
    while end < len(text):
        line_end = text.find("\n", end)
        line = text[end:] if line_end < 0 else text[end:line_end]
        if not syntax.line or not line.lstrip().startswith(syntax.line):
            break
        end = len(text) if line_end < 0 else line_end + 1
    return end


def strip_copyright_header(text: str, language: str) -> str:
    """Cut the file's leading comment block when it mentions copyright; keep a ``#!`` line and
    everything that is not a comment in this language (``#include``, ``#define``, ``<?xml``)."""
    syntax = COMMENT_SYNTAX.get(language)
    if syntax is None:
        return text
    kept = ""
    if text.startswith("#!"):
        line_end = text.find("\n")
        kept, text = (text, "") if line_end < 0 else (text[: line_end + 1], text[line_end + 1:])
    blanks = _BLANK_LINES.match(text)
    start = blanks.end() if blanks else 0
    end = _comment_block_end(text, start, syntax)
    if end == start or not _COPYRIGHT.search(text, start, end):
        return kept + text
    rest = text[end:]
    blanks = _BLANK_LINES.match(rest)
    return kept + (rest[blanks.end():] if blanks else rest)


def quality_reason(text: str) -> str | None:
    """RedPajama's discard rules, first failing one: ``empty``, ``max_line_len``, ``mean_line_len``,
    ``alnum_fraction``, ``alpha_per_token`` (alphabetic characters per whitespace token)."""
    lines = text.splitlines()
    if not text.strip():
        return "empty"
    if max(map(len, lines)) > GITHUB_MAX_LINE_CHARS:
        return "max_line_len"
    # RedPajama's mean line length: characters (newlines included) per line.
    if len(text) / len(lines) > GITHUB_MAX_MEAN_LINE_CHARS:
        return "mean_line_len"
    alnum, alpha = _alnum_alpha_counts(text)
    if alnum / len(text) < GITHUB_MIN_ALNUM_FRACTION:
        return "alnum_fraction"
    if alpha / len(text.split()) < GITHUB_MIN_ALPHA_PER_TOKEN:
        return "alpha_per_token"
    return None


def _alnum_alpha_counts(text: str) -> tuple[int, int]:
    """``str.isalnum``/``str.isalpha`` counts, the ASCII bulk counted in C by ``bytes.translate``
    (about 8x faster than a per-character loop; source code is mostly ASCII)."""
    raw = text.encode("utf-8", "surrogatepass")
    other = [] if text.isascii() else _NON_ASCII.findall(text)
    return (len(raw.translate(None, _DELETE_BUT_ALNUM)) + sum(c.isalnum() for c in other),
            len(raw.translate(None, _DELETE_BUT_ALPHA)) + sum(c.isalpha() for c in other))
