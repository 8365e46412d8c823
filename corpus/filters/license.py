"""License detection for source repositories: license file texts and package metadata -> SPDX ids.

A matcher on normalised text: each license is recognised by the clauses that set it apart from its
neighbours (BSD-3's endorsement clause vs BSD-2, MIT's "shall be included" condition vs MIT-0/ISC,
X11's advertising clause, the GNU licenses' title and date lines), so no license text is shipped.
Every license found in a text is reported (a file that bundles BSD-3 and GPL-3 gives both); a
declared SPDX expression is parsed (AND, OR, WITH, parentheses) and a repository is kept when some
alternative of its expression has only licenses in ``GITHUB_PERMISSIVE_LICENSES``. Unknown or
missing evidence excludes a repository: it is never assumed permissive.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from email.parser import HeaderParser
from typing import Mapping

from corpus.recipe import GITHUB_EXTENSION_LANGUAGES, GITHUB_PERMISSIVE_LICENSES

_LICENSE_FILE_NAME = re.compile(r"^(licen[cs]e|copying)([-._].*)?$", re.IGNORECASE)
# A LICENSE.md is a license file; a license.py is code.
_DOCUMENT_LANGUAGES = frozenset({"Markdown", "reStructuredText", "HTML", "XML", "TeX"})


def _normalise(text: str) -> str:
    """Lowercase words and version numbers only: comment markers, quotes, line breaks and
    British spellings stop mattering."""
    text = text.lower().replace("licence", "license").replace("acknowledgment", "acknowledgement")
    text = re.sub(r"[^a-z0-9.]+", " ", text)
    text = re.sub(r"(?<![0-9])\.|\.(?![0-9])", " ", text)
    return " ".join(text.split())


def _has(text: str, *phrases: str) -> bool:
    return all(p in text for p in phrases)


# The GNU licenses: their title + version + date line (full texts) or their standard notice.
_GNU_TITLES = (
    ("AGPL-3.0", "gnu affero general public license version 3 19 november 2007"),
    ("LGPL-3.0", "gnu lesser general public license version 3 29 june 2007"),
    ("LGPL-2.1", "gnu lesser general public license version 2.1 february 1999"),
    ("LGPL-2.0", "gnu library general public license version 2 june 1991"),
    ("GPL-3.0", "gnu general public license version 3 29 june 2007"),
    ("GPL-2.0", "gnu general public license version 2 june 1991"),
)
_GNU_NOTICE = re.compile(
    r"under the terms of the gnu (affero |lesser |library )?general public license"
    r"(?: as published by the free software foundation)?(?: either)? version (\d(?:\.\d)?)"
    r"( of the license or at your option any later version)?"
)
_GNU_PREFIX = {None: "GPL", "affero ": "AGPL", "lesser ": "LGPL", "library ": "LGPL"}

# Other licenses, recognised to give a precise reason; each needs every phrase listed.
_OTHER_MARKERS = (
    ("Apache-2.0", ("apache license version 2.0",)),
    ("Apache-1.1", ("apache software license version 1.1",)),
    ("MPL-2.0", ("mozilla public license version 2.0",)),
    ("MPL-2.0", ("subject to the terms of the mozilla public license v 2.0",)),
    ("MPL-1.1", ("mozilla public license version 1.1",)),
    ("EPL-2.0", ("eclipse public license v. 2.0",)),
    ("EPL-2.0", ("eclipse public license version 2.0",)),
    ("EPL-1.0", ("eclipse public license v 1.0",)),
    ("PSF-2.0", ("python software foundation license version 2",)),
    ("PSF-2.0", ("hereby grants licensee a nonexclusive royalty free world wide license",)),
    ("BSL-1.0", ("boost software license version 1.0",)),
    ("Unlicense", ("this is free and unencumbered software released into the public domain",)),
    ("CC0-1.0", ("cc0 1.0 universal",)),
    ("Artistic-2.0", ("the artistic license 2.0",)),
    ("WTFPL", ("do what the fuck you want to public license",)),
    ("Zlib", ("permission is granted to anyone to use this software for any purpose including commercial "
              "applications and to alter it and redistribute it freely subject to the following restrictions",)),
)

_MIT_GRANT = "permission is hereby granted free of charge to any person obtaining a copy of this software"
_MIT_CONDITION = ("the above copyright notice and this permission notice shall be included in all copies or "
                  "substantial portions of the software")
_X11_CLAUSE = "shall not be used in advertising or otherwise to promote the sale use or other dealings"
_ISC_GRANT = "permission to use copy modify and or distribute this software for any purpose with or without fee is hereby granted"
_ISC_CONDITION = "provided that the above copyright notice and this permission notice appear in all copies"
_HPND_GRANT = "permission to use copy modify and distribute this software and its documentation for any purpose"
_BSD_GRANT = "redistribution and use in source and binary forms with or without modification are permitted"
_BSD_SOURCE = "redistributions of source code must retain the above copyright notice"
_BSD_BINARY = "redistributions in binary form must reproduce the above copyright notice"
_BSD_ENDORSE = "to endorse or promote products derived from this software"
_BSD_ADVERTISING = "all advertising materials mentioning features or use of this software must display"
_BSD_CLEAR = "no express or implied licenses to any party s patent rights are granted by this license"


def _first(text: str, phrase: str) -> int:
    at = text.find(phrase)
    return at if at >= 0 else len(text)


def _permissive_family(text: str) -> list[tuple[int, str]]:
    found = []
    if _MIT_GRANT in text:
        spdx = "MIT-0" if _MIT_CONDITION not in text else "X11" if _X11_CLAUSE in text else "MIT"
        found.append((_first(text, _MIT_GRANT), spdx))
    if _ISC_GRANT in text:
        found.append((_first(text, _ISC_GRANT), "ISC" if _ISC_CONDITION in text else "0BSD"))
    elif _HPND_GRANT in text:
        found.append((_first(text, _HPND_GRANT), "MIT-CMU" if "carnegie mellon" in text else "HPND"))
    if _has(text, _BSD_GRANT, _BSD_SOURCE):
        if _BSD_ADVERTISING in text:
            spdx = "BSD-4-Clause"
        elif _BSD_CLEAR in text:
            spdx = "BSD-3-Clause-Clear"
        elif _BSD_ENDORSE in text:
            spdx = "BSD-3-Clause"
        elif _BSD_BINARY in text:
            spdx = "BSD-2-Clause"
        else:
            spdx = "BSD-1-Clause"
        found.append((_first(text, _BSD_GRANT), spdx))
    return found


def detect_license_text(text: str) -> str | None:
    """The SPDX expression of every license a text carries (``A AND B`` in order of appearance), or
    None when none is recognised."""
    norm = _normalise(text)
    found = _permissive_family(norm)
    for spdx, title in _GNU_TITLES:
        if title in norm:
            found.append((_first(norm, title), spdx))
    if not any(spdx.startswith(("GPL", "LGPL", "AGPL")) for _, spdx in found):
        for match in _GNU_NOTICE.finditer(norm):
            version = match.group(2) if "." in match.group(2) else f"{match.group(2)}.0"
            suffix = "-or-later" if match.group(3) else ""
            found.append((match.start(), f"{_GNU_PREFIX[match.group(1)]}-{version}{suffix}"))
    for spdx, phrases in _OTHER_MARKERS:
        if _has(norm, *phrases):
            found.append((_first(norm, phrases[0]), spdx))
    if not found and "licensed under the apache license version 2.0" in norm:
        found.append((0, "Apache-2.0"))
    ids: list[str] = []
    for _, spdx in sorted(found):
        if spdx not in ids:
            ids.append(spdx)
    return " AND ".join(ids) if ids else None


# Spellings seen in package metadata and in GitHub's / BigQuery's license keys -> SPDX ids.
# Keys are lowercase words joined by "-", with a trailing "license" dropped.
_NAME_ALIASES = {
    "mit": "MIT", "expat": "MIT", "the-mit": "MIT", "mit-0": "MIT-0", "x11": "X11", "isc": "ISC",
    "apache-2-0": "Apache-2.0", "apache-2": "Apache-2.0", "apache-license-2-0": "Apache-2.0",
    "apache-license-version-2-0": "Apache-2.0", "apache-software-license-2-0": "Apache-2.0",
    "apache-software-license-version-2-0": "Apache-2.0", "apache-v2": "Apache-2.0", "asl-2-0": "Apache-2.0",
    "bsd-2-clause": "BSD-2-Clause", "2-clause-bsd": "BSD-2-Clause", "simplified-bsd": "BSD-2-Clause",
    "freebsd": "BSD-2-Clause", "bsd-2": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause", "3-clause-bsd": "BSD-3-Clause", "new-bsd": "BSD-3-Clause",
    "modified-bsd": "BSD-3-Clause", "revised-bsd": "BSD-3-Clause", "bsd-3": "BSD-3-Clause",
    "bsd-4-clause": "BSD-4-Clause", "mpl-2-0": "MPL-2.0", "mozilla-public-2-0": "MPL-2.0",
    "psf-2-0": "PSF-2.0", "python-software-foundation": "PSF-2.0", "unlicense": "Unlicense",
    "cc0-1-0": "CC0-1.0", "epl-1-0": "EPL-1.0", "epl-2-0": "EPL-2.0", "bsl-1-0": "BSL-1.0",
    "artistic-2-0": "Artistic-2.0", "zlib": "Zlib", "0bsd": "0BSD",
}
_GNU_NAME = re.compile(
    r"^(?:gnu-)?(?:(a|l)gpl|(affero|lesser|library)-general-public|general-public|gpl)"
    r"-?v?(\d)(?:-(\d))?(-or-later|-only)?$"
)
_GNU_LONG_PREFIX = {"affero": "A", "lesser": "L", "library": "L"}


def normalize_license_name(name: str) -> str | None:
    """A license name or key as people write it ('MIT License', 'apache-2.0', 'GPLv2+', 'New BSD')
    -> its SPDX id; None when it is unknown or ambiguous (a bare 'BSD' or 'Apache')."""
    key = re.sub(r"\(.*?\)", " ", name.strip().lower()).replace("+", " or later ").replace("licence", "license")
    key = "-".join(re.findall(r"[a-z0-9]+", key))
    key = re.sub(r"^the-", "", re.sub(r"-license(?=$|-v?\d|-or-later|-only)", "", key))
    if key in _NAME_ALIASES:
        return _NAME_ALIASES[key]
    match = _GNU_NAME.match(key)
    if match is None:
        return None
    short, long_, major, minor, scope = match.groups()
    prefix = (short or "").upper() or _GNU_LONG_PREFIX.get(long_ or "", "")
    return f"{prefix}GPL-{major}.{minor or 0}{'-or-later' if scope == '-or-later' else ''}"


_EXPRESSION_OPERATORS = {"AND", "OR", "WITH", "(", ")"}


class LicenseExpressionError(ValueError):
    """An SPDX expression that does not parse (unbalanced parentheses, a missing operand, ...)."""


def _tokens(expression: str) -> list[str]:
    return [t.upper() if t.upper() in _EXPRESSION_OPERATORS else t for t in re.findall(r"[()]|[^\s()]+", expression)]


def parse_license_expression(expression: str) -> list[tuple[str, ...]]:
    """An SPDX expression as its alternatives: a list of OR-branches, each the tuple of licenses that must
    all hold (``ID`` or ``ID WITH exception``). Precedence as in SPDX annex D: WITH, then AND, then OR;
    parentheses group. 'MIT AND (Apache-2.0 OR GPL-3.0)' -> [('MIT', 'Apache-2.0'), ('MIT', 'GPL-3.0')]."""
    tokens = _tokens(expression)
    at = 0

    def peek() -> str | None:
        return tokens[at] if at < len(tokens) else None

    def take() -> str:
        nonlocal at
        if at == len(tokens):
            raise LicenseExpressionError(f"{expression!r}: ends where a license or '(' is expected")
        at += 1
        return tokens[at - 1]

    def any_of() -> list[tuple[str, ...]]:
        branches = all_of()
        while peek() == "OR":
            take()
            branches += all_of()
        return branches

    def all_of() -> list[tuple[str, ...]]:
        branches = operand()
        while peek() == "AND":
            take()
            right = operand()
            branches = [left + more for left in branches for more in right]
        return branches

    def operand() -> list[tuple[str, ...]]:
        token = take()
        if token == "(":
            inner = any_of()
            if take() != ")":
                raise LicenseExpressionError(f"{expression!r}: '(' without its ')'")
            return inner
        if token in _EXPRESSION_OPERATORS:
            raise LicenseExpressionError(f"{expression!r}: {token!r} where a license is expected")
        if peek() == "WITH":
            take()
            exception = take()
            if exception in _EXPRESSION_OPERATORS:
                raise LicenseExpressionError(f"{expression!r}: WITH needs an exception id, not {exception!r}")
            return [(f"{token} WITH {exception}",)]
        return [(token,)]

    branches = any_of()
    if at != len(tokens):
        raise LicenseExpressionError(f"{expression!r}: unexpected {tokens[at]!r}")
    return branches


def _expression_ids(expression: str) -> list[str]:
    return [t for t in _tokens(expression) if t not in _EXPRESSION_OPERATORS]


def _canonical_expression(expression: str) -> str | None:
    """'mit OR apache-2.0' -> 'MIT OR Apache-2.0'; None if any id is unknown or it does not parse."""
    canonical = [t if t in _EXPRESSION_OPERATORS else normalize_license_name(t) for t in _tokens(expression)]
    if not canonical or not all(canonical):
        return None
    text = re.sub(r"\( | \)", lambda m: m.group(0).strip(), " ".join(canonical))
    try:
        parse_license_expression(text)
    except LicenseExpressionError:
        return None
    return text


def _refused_terms(expression: str) -> list[tuple[str, ...]]:
    """Per OR-branch, its licenses that are not allowed (a ``WITH`` exception is not allowed: it is not one
    of the recipe's licenses); an empty tuple is a branch the data may be used under. A malformed
    expression is one branch that refuses everything in it."""
    try:
        branches = parse_license_expression(expression)
    except LicenseExpressionError:
        return [(expression,)]
    return [tuple(term for term in branch if term not in GITHUB_PERMISSIVE_LICENSES) for branch in branches]


def is_permissive(expression: str | None) -> bool:
    """True when some alternative of an SPDX expression has only allowed licenses: 'MIT OR GPL-3.0' may be
    used under MIT (LLaMA-1 kept permissively licensed code), 'MIT AND GPL-3.0' may not."""
    if not expression:
        return False
    return any(not refused for refused in _refused_terms(expression))


def license_from_metadata(metadata: str) -> str | None:
    """A Python package's declared license (secondary evidence): ``License-Expression``, else the
    ``License`` field, else an unambiguous trove classifier."""
    headers = HeaderParser().parsestr(metadata, headersonly=True)
    for field in ("License-Expression", "License"):
        declared = (headers.get(field) or "").strip()
        if "\n" in declared:  # some packages paste the whole license text here
            spdx = detect_license_text(declared)
        else:
            spdx = _canonical_expression(declared) or normalize_license_name(declared)
        if spdx:
            return spdx
    for classifier in headers.get_all("Classifier") or []:
        if classifier.startswith("License ::"):
            spdx = normalize_license_name(classifier.rsplit("::", 1)[1])
            if spdx:
                return spdx
    return None


def _declares_license(metadata: str) -> bool:
    headers = HeaderParser().parsestr(metadata, headersonly=True)
    return bool(headers.get("License-Expression") or headers.get("License")
                or any(c.startswith("License ::") for c in headers.get_all("Classifier") or []))


def is_license_file_name(name: str) -> bool:
    """LICENSE, LICENSE.txt, LICENCE, COPYING, LICENSE-MIT, COPYING.LESSER.3, ... (not license.py)."""
    if _LICENSE_FILE_NAME.match(name) is None:
        return False
    suffix = name[name.rfind("."):] if "." in name else ""
    return GITHUB_EXTENSION_LANGUAGES.get(suffix, "Markdown") in _DOCUMENT_LANGUAGES


@dataclass(frozen=True)
class LicenseVerdict:
    """A repository's license (SPDX expression or None) and what it was read from."""

    license: str | None
    evidence: str
    had_evidence: bool = False

    @property
    def permitted(self) -> bool:
        return is_permissive(self.license)

    @property
    def drop_reason(self) -> str:
        """``license:none`` (nothing to read), ``license:unknown`` (unrecognised), or
        ``license:<what is not allowed>``: per alternative, its licenses that are not allowed
        ('MIT AND GPL-2.0' -> 'GPL-2.0', '(MIT AND GPL-2.0) OR AGPL-3.0' -> 'GPL-2.0 OR AGPL-3.0')."""
        if self.license is None:
            return "license:unknown" if self.had_evidence else "license:none"
        if self.permitted:
            return f"license:{self.license}"
        branches = _refused_terms(self.license)
        if len(branches) == 1:
            return "license:" + " AND ".join(branches[0])
        return "license:" + " OR ".join(
            f"({' AND '.join(refused)})" if len(refused) > 1 else refused[0] for refused in branches)


def repository_license(license_files: Mapping[str, str], metadata_files: Mapping[str, str] = {}) -> LicenseVerdict:
    """Decide a repository's license from its license files (path -> text), with package METADATA
    (path -> text) consulted only when no license file is recognised.

    A license file that names no license (a pointer such as "see LICENSE.APACHE") is ignored when
    another one is recognised; the licenses of all recognised files must hold together (``AND``).
    """
    detected = {path: detect_license_text(text) for path, text in sorted(license_files.items())}
    ids: list[str] = []
    for spdx in detected.values():
        for part in _expression_ids(spdx or ""):
            if part not in ids:
                ids.append(part)
    if ids:
        recognised = ", ".join(p for p, spdx in detected.items() if spdx)
        return LicenseVerdict(" AND ".join(ids), f"license files: {recognised}", True)
    for path, text in sorted(metadata_files.items()):
        spdx = license_from_metadata(text)
        if spdx:
            return LicenseVerdict(spdx, f"package metadata: {path}", True)
    looked_at = sorted(license_files) + sorted(p for p, text in metadata_files.items() if _declares_license(text))
    if looked_at:
        return LicenseVerdict(None, f"unrecognised: {', '.join(looked_at)}", True)
    return LicenseVerdict(None, "no license file")
