"""Word lists (banned words, dirty words) and the Aho-Corasick matcher that finds them.

A list is a text file, one entry a line (``#`` comments and blank lines skipped), given as a local path or
an http(s) URL (downloaded once into a cache through ``corpus.inputs``: resume, retries, and
``HostUnreachable`` at once when offline). The lists themselves (LDNOOBW, datatrove's banned words, UT1)
are third-party and never part of the repository.

``PhraseMatcher`` finds whole-token occurrences of phrases: a phrase is a sequence of tokens (runs of a
pattern's characters, lowercased), and it occurs where the text's tokens (cut by the same pattern) hold it as
consecutive tokens, so "ass" never matches inside "class" and "big tits" matches "big-tits" in a URL. One
Aho-Corasick pass (``pyahocorasick``) over the lowercased text finds the phrases' tokens; a hit counts where
the characters either side are not token characters, and a phrase of several tokens where its tokens are
consecutive hits with no token character between them. The text is never tokenized: a page's cost is the
automaton's pass, not a regex split of every word.
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
    """Whole-token occurrences of a set of phrases (each phrase: one or more tokens of ``token``, a pattern
    ``[...]+`` of one character class)."""

    def __init__(self, phrases: Iterable[str], token: re.Pattern[str]):
        self.token = token
        self.phrases: list[str] = []
        self._vocabulary: dict[str, int] = {}  # every token of a phrase -> its id in the automaton
        self._starting: dict[int, list[tuple[tuple[int, ...], int]]] = {}  # first token -> (tokens, phrase)
        self._automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        known: set[str] = set()  # self.phrases as a set: an entry that tokenizes like an earlier one is skipped
        for phrase in phrases:
            tokens = token.findall(phrase.lower())
            if not tokens or " ".join(tokens) in known:
                continue
            known.add(" ".join(tokens))
            ids = tuple(self._vocabulary.setdefault(t, len(self._vocabulary)) for t in tokens)
            self._starting.setdefault(ids[0], []).append((ids, len(self.phrases)))
            self.phrases.append(" ".join(tokens))
        for word, i in self._vocabulary.items():
            self._automaton.add_word(word, i)
        self._lengths = [len(word) for word in self._vocabulary]
        if self.phrases:
            self._automaton.make_automaton()

    def __len__(self) -> int:
        return len(self.phrases)

    def _token_hits(self, low: str) -> list[tuple[int, int, int]]:
        """(start, end, token id) of each whole token of ``low`` that a phrase holds, in text order."""
        is_token_char = self.token.match
        hits = []
        for last, word in self._automaton.iter(low):
            start = last + 1 - self._lengths[word]
            if not (start and is_token_char(low, start - 1, start)) and not is_token_char(low, last + 1, last + 2):
                hits.append((start, last + 1, word))
        return hits

    def find(self, text: str) -> list[str]:
        """Every occurrence (overlapping ones included), in the order of their ends (the longer first)."""
        if not self.phrases or not text:
            return []
        low = text.lower()
        hits = self._token_hits(low)
        found = []
        for i, (_, end, word) in enumerate(hits):
            for ids, phrase in self._starting.get(word, ()):
                following = hits[i + 1:i + len(ids)]
                if ids[1:] == tuple(h[2] for h in following) and not any(
                        self.token.search(low, a[1], b[0]) for a, b in zip(hits[i:], following)):
                    found.append(((following[-1] if following else hits[i])[1], -len(ids), phrase))
        return [self.phrases[phrase] for _, _, phrase in sorted(found)]


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
