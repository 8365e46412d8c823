"""Word lists (banned words, dirty words) and the Aho-Corasick matcher that finds them.

A list is a text file, one entry a line (``#`` comments and blank lines skipped), given as a local path or
an http(s) URL (downloaded once into a cache through ``corpus.inputs``: resume, retries, and
``HostUnreachable`` at once when offline). The lists themselves (LDNOOBW, datatrove's banned words, UT1)
are third-party and never part of the repository.

``PhraseMatcher`` finds whole-token occurrences of phrases in one pass (``pyahocorasick``): the text is
cut into tokens by a pattern, joined by single spaces and padded with a space at each end, and each
phrase, tokenized the same way, is searched as `` tok tok `` with its spaces, so "ass" never matches
inside "class" and "big tits" matches "big-tits" in a URL.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import ahocorasick

from corpus.inputs import expand_paths

# URL tokens as datatrove's URLFilter cuts them: runs of ASCII letters and digits
URL_TOKEN = re.compile(r"[a-z0-9]+")
# text tokens: runs of Unicode word characters other than "_"
TEXT_TOKEN = re.compile(r"[^\W_]+")


def fetch_list(spec: str | Path, cache: Path) -> Path:
    """A list's local file: ``spec`` itself, or the download of an http(s) URL into ``cache``."""
    return expand_paths([str(spec)], cache)[0]


def read_entries(path: Path) -> list[str]:
    """The entries of a list file, stripped and lowercased, in file order, each once."""
    out: dict[str, None] = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            entry = line.strip().lower()
            if entry and not entry.startswith("#"):
                out[entry] = None
    return list(out)


class PhraseMatcher:
    """Whole-token occurrences of a set of phrases (each phrase: one or more tokens of ``token``)."""

    def __init__(self, phrases: Iterable[str], token: re.Pattern[str]):
        self.token = token
        self.phrases: list[str] = []
        self._automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for phrase in phrases:
            key = self._padded(phrase)
            if key.strip() and self._automaton.add_word(key, len(self.phrases)):
                self.phrases.append(" ".join(key.split()))
        if self.phrases:
            self._automaton.make_automaton()

    def _padded(self, text: str) -> str:
        return " " + " ".join(self.token.findall(text.lower())) + " "

    def __len__(self) -> int:
        return len(self.phrases)

    def find(self, text: str) -> list[str]:
        """Every occurrence (overlapping ones included), in text order."""
        if not self.phrases or not text:
            return []
        return [self.phrases[i] for _, i in self._automaton.iter(self._padded(text))]


class SubstringMatcher:
    """Any of a set of strings anywhere inside a text (datatrove's banned subwords)."""

    def __init__(self, words: Iterable[str]):
        self.words = sorted({w for w in words if w})
        self._automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for i, word in enumerate(self.words):
            self._automaton.add_word(word, i)
        if self.words:
            self._automaton.make_automaton()

    def first(self, text: str) -> str | None:
        if not self.words:
            return None
        return next((self.words[i] for _, i in self._automaton.iter(text)), None)
