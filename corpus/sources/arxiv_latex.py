"""LaTeX cleaning for the arXiv source, as LLaMA-1 describes it (section 2.1): the paper's files joined
from the main file through ``\\input``/``\\include``, comments removed, everything before the first
sectioning command and from the bibliography/appendix on cut, and user macros expanded inline.

Text in, text out: the reader gives this module the paper's files, already decoded. Where the public
reference was wrong, this follows the paper: ``\\subparagraph`` counts as a sectioning command, the
character before an inline ``%`` is kept, and macros with arguments (``#1``..``#9``, an optional first
argument with a default) are expanded, with nested braces, not only argument-free one-liners.

Known limits (said, not hidden): ``%`` inside verbatim environments is treated as a comment; macro
definitions are global (TeX groups are ignored, the last definition in the paper wins, as a
``\\providecommand`` never overrides); ``\\def`` with delimited parameters (``\\def\\a#1.{}``) is left as is.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Mapping

SECTIONING_COMMANDS = ("chapter", "part", "section", "subsection", "subsubsection", "paragraph", "subparagraph")
# \section*{...} or \section[short]{...}: the brace/bracket keeps \sectionname or \partial from matching.
_SECTION = re.compile(r"\\(?:" + "|".join(SECTIONING_COMMANDS) + r")(?![A-Za-z@])\*?\s*[\[{]")
# \end{document} too: LaTeX ignores whatever follows it.
_BACK_MATTER = re.compile(
    r"\\appendix(?![A-Za-z@])|\\begin\s*\{(?:references|thebibliography)\}|\\bibliography\s*\{|\\end\s*\{document\}")
_FULL_LINE_COMMENT = re.compile(r"^[ \t]*%.*(?:\n|$)", re.MULTILINE)
# An even run of backslashes (``\\`` = line break) before % leaves it a comment; ``\%`` is a percent sign.
_INLINE_COMMENT = re.compile(r"(?<!\\)((?:\\\\)*)%.*$", re.MULTILINE)
_INCLUDE = re.compile(r"\\(?:input|include)(?![A-Za-z@])\s*(?:\{\s*([^{}]*?)\s*\}|([^\s{}\\%]+))")
_DOCUMENTCLASS = re.compile(r"\\documentclass(?![A-Za-z@])")
_BEGIN_DOCUMENT = re.compile(r"\\begin\s*\{document\}")
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")

_DEFINE = re.compile(r"\\(newcommand|renewcommand|providecommand)\*?(?![A-Za-z@])|\\[gex]?def(?![A-Za-z@])")
_CONTROL_SEQUENCE = re.compile(r"\\(?:[A-Za-z@]+|.)", re.DOTALL)
_DEF_PARAMS = re.compile(r"(?:#[1-9])*")
_SPACES = re.compile(r"\s*")
_GROUP_TOKENS = re.compile(r"\\.|[{}]", re.DOTALL)
_BRACKET_TOKENS = re.compile(r"\\.|[{}\]]", re.DOTALL)
_PARAMETER = re.compile(r"##|#([1-9])")
# Redefining these would change where the paper is cut or which files join it: never expanded.
_PROTECTED = frozenset(SECTIONING_COMMANDS) | {"begin", "end", "input", "include", "appendix", "bibliography"}
TEX_SUFFIXES = (".tex", ".ltx", ".latex")


class MacroExpansionError(ValueError):
    """A paper's macros expand past the size budget (a macro that doubles itself, say)."""


@dataclass(frozen=True)
class Macro:
    nargs: int
    default: str | None  # the optional first argument's default; None when there is no optional argument
    body: str


@dataclass
class Assembly:
    """A paper's text joined from its main file, and what could not be joined."""

    text: str
    files: list[str]
    refused: list[tuple[str, str]] = field(default_factory=list)  # (reference, why)
    missing: list[str] = field(default_factory=list)


def remove_comments(text: str) -> str:
    return _INLINE_COMMENT.sub(r"\1", _FULL_LINE_COMMENT.sub("", text))


def main_file_candidates(files: Mapping[str, str]) -> list[str]:
    """Files that start a document (``\\documentclass``, else ``\\begin{document}``); comments removed."""
    for marker in (_DOCUMENTCLASS, _BEGIN_DOCUMENT):
        found = sorted(name for name, text in files.items() if marker.search(text))
        if found:
            return found
    return sorted(files) if len(files) == 1 else []


def assemble(main: str, files: Mapping[str, str], max_depth: int) -> Assembly:
    """Inline ``\\input``/``\\include`` from ``main``. Paths resolve from the main file's folder, as
    LaTeX does; an absolute path or one with ``..`` is refused, so nothing outside the paper is read."""
    base = PurePosixPath(main).parent
    assembly = Assembly("", [])

    def resolve(reference: str) -> str | None:
        path = PurePosixPath(reference)
        if path.is_absolute() or ".." in path.parts or reference.startswith("~") or re.match(r"[A-Za-z]:", reference):
            assembly.refused.append((reference, "outside the paper"))
            return None
        for candidate in (base / path, base / f"{path}.tex"):
            key = candidate.as_posix()
            if key in files:
                return key
        assembly.missing.append(reference)
        return None

    def expand(name: str, stack: tuple[str, ...]) -> str:
        assembly.files.append(name)

        def include(m: re.Match) -> str:
            target = resolve(m.group(1) or m.group(2))
            if target is None:
                return ""
            if target in stack or len(stack) >= max_depth:
                assembly.refused.append((target, "include cycle or nesting too deep"))
                return ""
            return expand(target, stack + (target,))

        return _INCLUDE.sub(include, files[name])

    assembly.text = expand(main, (main,))
    return assembly


def extract_macros(text: str) -> tuple[str, dict[str, Macro]]:
    """The text without its ``\\newcommand``/``\\renewcommand``/``\\providecommand``/``\\def`` definitions,
    and the macros they define (name without the backslash)."""
    macros: dict[str, Macro] = {}
    kept: list[str] = []
    pos = 0
    for m in _DEFINE.finditer(text):
        if m.start() < pos:
            continue  # inside a definition already consumed
        parsed = _parse_definition(text, m)
        if parsed is None:
            continue
        name, macro, end = parsed
        kept.append(text[pos:m.start()])
        pos = end
        if name in _PROTECTED or (m.group(1) == "providecommand" and name in macros):
            continue
        macros[name] = macro
    kept.append(text[pos:])
    return "".join(kept), macros


def _parse_definition(text: str, m: re.Match) -> tuple[str, Macro, int] | None:
    pos = _skip_spaces(text, m.end())
    if m.group(1) is None:  # \def\name#1#2{body}
        name = _CONTROL_SEQUENCE.match(text, pos)
        if name is None:
            return None
        params = _DEF_PARAMS.match(text, _skip_spaces(text, name.end()))
        body_start = _skip_spaces(text, params.end())
        if not text.startswith("{", body_start):
            return None  # delimited parameters: not expanded
        body, end = read_group(text, body_start)
        return (name.group()[1:], Macro(len(params.group()) // 2, None, body), end) if body is not None else None
    if text.startswith("{", pos):
        braced, pos = read_group(text, pos)
        name = _CONTROL_SEQUENCE.fullmatch(braced.strip()) if braced is not None else None
    else:
        name = _CONTROL_SEQUENCE.match(text, pos)
        pos = name.end() if name else pos
    if name is None:
        return None
    nargs, default = 0, None
    pos = _skip_spaces(text, pos)
    if text.startswith("[", pos):
        count, pos = read_bracket(text, pos)
        if count is None or not count.strip().isdigit():
            return None
        nargs = int(count)
        pos = _skip_spaces(text, pos)
        if text.startswith("[", pos):
            default, pos = read_bracket(text, pos)
            if default is None:
                return None
            pos = _skip_spaces(text, pos)
    if not text.startswith("{", pos):
        return None
    body, end = read_group(text, pos)
    return (name.group().strip()[1:], Macro(nargs, default, body), end) if body is not None else None


def expand_macros(text: str, macros: Mapping[str, Macro], max_depth: int, max_chars: int) -> tuple[str, int]:
    """Expand every use of ``macros`` (and the macros their bodies use, up to ``max_depth`` levels);
    returns the text and how many uses were expanded. A use missing its arguments stays as written."""
    if not macros:
        return text, 0
    words = sorted((re.escape(n) for n in macros if re.fullmatch(r"[A-Za-z@]+", n)), key=len, reverse=True)
    symbols = sorted(re.escape(n) for n in macros if not re.fullmatch(r"[A-Za-z@]+", n))
    alternatives = ([rf"(?:{'|'.join(words)})(?![A-Za-z@])"] if words else []) + symbols
    pattern = re.compile(r"\\(" + "|".join(alternatives) + ")")
    budget = {"chars": max_chars, "uses": 0}

    def expand(segment: str, depth: int) -> str:
        out: list[str] = []
        pos = 0
        while m := pattern.search(segment, pos):
            out.append(segment[pos:m.start()])
            macro = macros[m.group(1)]
            read = _read_arguments(segment, m.end(), macro)
            if read is None or depth >= max_depth:
                out.append(m.group())
                pos = m.end()
                continue
            arguments, pos = read
            body = _PARAMETER.sub(lambda p: "#" if p.group(1) is None else
                                  (arguments[int(p.group(1)) - 1] if int(p.group(1)) <= len(arguments) else p.group()),
                                  macro.body)
            budget["uses"] += 1
            budget["chars"] -= len(body)
            if budget["chars"] < 0:
                raise MacroExpansionError(f"macro expansion past {max_chars} characters (at \\{m.group(1)})")
            out.append(expand(body, depth + 1))
        out.append(segment[pos:])
        return "".join(out)

    return expand(text, 0), budget["uses"]


def _read_arguments(text: str, pos: int, macro: Macro) -> tuple[list[str], int] | None:
    arguments: list[str] = []
    if macro.default is not None:
        start = _skip_spaces(text, pos)
        optional, end = read_bracket(text, start) if text.startswith("[", start) else (None, pos)
        arguments.append(macro.default if optional is None else optional)
        pos = end
    while len(arguments) < macro.nargs:
        pos = _skip_spaces(text, pos)
        if pos >= len(text) or text[pos] == "}":
            return None
        if text[pos] == "{":
            group, pos = read_group(text, pos)
            if group is None:
                return None
            arguments.append(group)
        else:  # an undelimited argument is a single token: one character or one control sequence
            token = _CONTROL_SEQUENCE.match(text, pos)
            end = token.end() if token else pos + 1
            arguments.append(text[pos:end])
            pos = end
    return arguments, pos


def read_group(text: str, start: int) -> tuple[str | None, int]:
    """The inside of the balanced ``{...}`` at ``start`` and the position after it (None if unbalanced)."""
    return _read_balanced(text, start, _GROUP_TOKENS, "}")


def read_bracket(text: str, start: int) -> tuple[str | None, int]:
    """The inside of ``[...]`` at ``start`` (braces inside may hold a ``]``)."""
    return _read_balanced(text, start, _BRACKET_TOKENS, "]")


def _read_balanced(text: str, start: int, tokens: re.Pattern, closer: str) -> tuple[str | None, int]:
    depth = 0
    for t in tokens.finditer(text, start + 1):
        token = t.group()
        if token == "{":
            depth += 1
        elif token == "}" and depth > 0:
            depth -= 1
        elif token == closer and depth == 0:
            return text[start + 1:t.start()], t.end()
        elif token == "}":
            return None, start  # a stray closing brace ends the enclosing group first
    return None, start


def _skip_spaces(text: str, pos: int) -> int:
    return _SPACES.match(text, pos).end()


def clean_paper(text: str, max_macro_depth: int, max_chars: int) -> tuple[str, int] | None:
    """The body of an assembled, comment-free paper with its macros expanded, and how many macro uses
    were expanded; None when the paper has no sectioning command (the recipe keeps nothing then)."""
    text, macros = extract_macros(text)
    start = _SECTION.search(text)
    if start is None:
        return None
    text = text[start.start():]
    if end := _BACK_MATTER.search(text):
        text = text[:end.start()]
    text, uses = expand_macros(text, macros, max_macro_depth, max_chars)
    return _BLANK_LINES.sub("\n\n", headings_as_lines(text)).strip(), uses


def headings_as_lines(text: str) -> str:
    """``\\section*[short]{Title}`` -> ``Title`` on a line of its own: the body stays LaTeX, as LLaMA-1
    trained on it, but document structure reads as headings, not commands (as in the Wikipedia text)."""
    out, pos = [], 0
    for m in _SECTION.finditer(text):
        if m.start() < pos:
            continue
        at = m.end() - 1
        if text[at] == "[":
            _, at = read_bracket(text, at)
            at = _skip_spaces(text, at)
        title, end = read_group(text, at) if at < len(text) and text[at] == "{" else (None, at)
        if title is None:
            continue  # not a well-formed heading: leave it as it is
        out.append(text[pos:m.start()])
        out.append(f"\n{title.strip()}\n")
        pos = end
    out.append(text[pos:])
    return "".join(out)
