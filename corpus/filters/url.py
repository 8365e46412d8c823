"""LLaMA-3's safety filtering of web pages by URL (RefinedWeb G.1, FineWeb, datatrove's URLFilter), and its
"dirty word" counting in the text (LLaMA-3 section 3.1.1, after C4's bad-words rule).

A page is dropped, first rule first:
- ``url_blocklist:<category>``: its host, or a domain above it, is in a UT1 ``<category>/domains`` list
  (detail ``domain=<entry>``), or its host + path, or a folder above that path, is in a ``<category>/urls``
  list (detail ``url=<entry>``). This is squidGuard's matching, for which UT1 writes its lists; hosts and
  entries alike lose ``www.``/``www2.``, a port and a trailing dot, and are lowercased. (datatrove looks up
  ``registered_domain`` and ``fqdn`` only, so a blocked ``a.example.com`` misses ``b.a.example.com``, and
  compares the url list to URLs with their scheme, which UT1 entries never have.)
- ``url_banned_word``: a hard-banned word is a token of the URL (tokens: runs of ``[a-z0-9]`` of the
  lowercased URL; a multi-word entry must appear as consecutive tokens);
- ``url_soft_banned_words``: at least ``soft_threshold`` distinct soft-banned words are tokens of the URL;
- ``url_banned_subword``: a banned subword occurs anywhere in the URL's letters and digits run together;
- ``dirty_words``: the text holds more than ``max_dirty_words`` whole-word occurrences of the dirty-word
  list (detail: the count and the words).

A document without a URL is judged on its text only. The lists come from configured paths or URLs
(``corpus.filters.wordlists.fetch_list``); none is part of the repository.
"""
from __future__ import annotations

import re
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa

from corpus.filters.base import DocumentFilter, Judgement
from corpus.filters.wordlists import TEXT_TOKEN, URL_TOKEN, PhraseMatcher, SubstringMatcher, fetch_list, read_entries
from corpus.recipe import DIRTY_WORDS_MAX_COUNT, URL_BLOCKLIST_CATEGORIES, URL_SOFT_BANNED_WORDS_THRESHOLD
from corpus.fingerprints import fingerprint

STAGE = "url_filter"
UT1_KINDS = ("domains", "urls")
_WWW = re.compile(r"^www\d*\.")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def normalize_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    return _WWW.sub("", host.split(":", 1)[0])


def normalize_url_entry(entry: str) -> str:
    """A UT1 url entry (``host/path``, no scheme) in the form ``Blocklists.match`` looks up: host normalized, no trailing ``/``."""
    host, _, path = entry.strip().lower().partition("/")
    return normalize_host(host) + ("/" + path.rstrip("/") if path.rstrip("/") else "")


def url_key(url: str) -> tuple[str, str] | None:
    """(normalized host, path) of a URL; None when it has no host."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return normalize_host(parts.hostname), parts.path


@dataclass(frozen=True)
class Blocklists:
    """UT1 entries by kind: {entry: category}, the first category listed wins for an entry in several."""

    domains: Mapping[str, str] = field(default_factory=dict)
    urls: Mapping[str, str] = field(default_factory=dict)

    def match(self, url: str) -> tuple[str, str] | None:
        """(category, ``domain=<entry>`` or ``url=<entry>``) of the first matching entry, or None."""
        key = url_key(url)
        if key is None:
            return None
        host, path = key
        domain = host
        while True:  # the host, then every domain above it
            if (category := self.domains.get(domain)) is not None:
                return category, f"domain={domain}"
            dot = domain.find(".")
            if dot < 0:
                break
            domain = domain[dot + 1:]
        if host not in self.url_hosts:
            return None
        segments = [s for s in path.lower().split("/") if s]
        for n in range(len(segments), -1, -1):  # the whole path, then every folder above it
            entry = "/".join([host, *segments[:n]])
            if (category := self.urls.get(entry)) is not None:
                return category, f"url={entry}"
        return None

    @cached_property
    def url_hosts(self) -> frozenset[str]:
        """The hosts of the url entries: a URL of another host has no folder to look up."""
        return frozenset(entry.partition("/")[0] for entry in self.urls)

    def __len__(self) -> int:
        return len(self.domains) + len(self.urls)


def read_ut1(path: Path, categories: Iterable[str]) -> Blocklists:
    """The ``domains`` and ``urls`` lists of ``categories`` from a UT1 archive (``blacklists.tar.gz``, or one
    category's ``adult.tar.gz``; any folder above ``<category>/`` is ignored) or an extracted folder.
    A category folder that is a symlink in the archive (UT1's ``porn`` -> ``adult``) reads its target's
    lists; a category with neither list is an error (a misspelt category must not filter nothing)."""
    wanted = list(dict.fromkeys(categories))
    found: dict[tuple[str, str], list[str]] = {}
    if Path(path).is_dir():
        for category in wanted:
            for kind in UT1_KINDS:
                hits = sorted(Path(path).glob(f"**/{category}/{kind}"))
                if hits:
                    found[(category, kind)] = hits[0].read_text(encoding="utf-8", errors="replace").splitlines()
    else:
        with tarfile.open(path) as tar:
            members = tar.getmembers()
            aliases = {PurePosixPath(m.name).name: PurePosixPath(m.linkname).name for m in members if m.issym()}
            for m in members:
                p = PurePosixPath(m.name)
                if m.isfile() and p.name in UT1_KINDS and len(p.parts) >= 2:
                    for category in wanted:
                        if p.parent.name in (category, aliases.get(category)) and (category, p.name) not in found:
                            found[(category, p.name)] = tar.extractfile(m).read().decode("utf-8", "replace").splitlines()
    missing = [c for c in wanted if not any((c, k) in found for k in UT1_KINDS)]
    if missing:
        raise ValueError(f"{path}: no UT1 list for categor{'ies' if len(missing) > 1 else 'y'} {', '.join(missing)} "
                         f"(expected <category>/domains or <category>/urls)")
    domains: dict[str, str] = {}
    urls: dict[str, str] = {}
    for category in wanted:
        for kind, table, norm in (("domains", domains, normalize_host), ("urls", urls, normalize_url_entry)):
            for line in found.get((category, kind), []):
                line = line.strip()
                if line and not line.startswith("#"):
                    table.setdefault(norm(line.lstrip(".")), category)
    return Blocklists(domains, urls)


@dataclass
class UrlFilter(DocumentFilter):
    """Blocklisted domains and URLs, banned words in the URL, and dirty words in the text (module docstring)."""

    source: str
    blocklists: Blocklists = field(default_factory=Blocklists)
    banned_words: Iterable[str] = ()
    soft_banned_words: Iterable[str] = ()
    banned_subwords: Iterable[str] = ()
    soft_threshold: int = URL_SOFT_BANNED_WORDS_THRESHOLD
    dirty_words: Iterable[str] = ()
    max_dirty_words: int = DIRTY_WORDS_MAX_COUNT
    stage: str = STAGE

    def __post_init__(self) -> None:
        self._banned = PhraseMatcher(self.banned_words, URL_TOKEN)
        self._soft = PhraseMatcher(self.soft_banned_words, URL_TOKEN)
        self._subwords = SubstringMatcher(_NOT_ALNUM.sub("", w.lower()) for w in self.banned_subwords)
        self._dirty = PhraseMatcher(self.dirty_words, TEXT_TOKEN)

    def url_verdict(self, url: str | None) -> tuple[str, str] | None:
        """(reason, detail) for a URL that is dropped, None for one that is kept."""
        if not url:
            return None
        if (hit := self.blocklists.match(url)) is not None:
            return f"url_blocklist:{hit[0]}", hit[1]
        if banned := self._banned.find(url):
            return "url_banned_word", f"word={banned[0]}"
        soft = sorted(set(self._soft.find(url)))
        if len(soft) >= self.soft_threshold:
            return "url_soft_banned_words", f"words={','.join(soft)}"
        if (sub := self._subwords.first(_NOT_ALNUM.sub("", url.lower()))) is not None:
            return "url_banned_subword", f"subword={sub}"
        return None

    def text_verdict(self, text: str) -> tuple[str, str] | None:
        hits = self._dirty.find(text)
        if len(hits) <= self.max_dirty_words:
            return None
        counts = Counter(hits)
        words = ",".join(f"{w}:{n}" for w, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10])
        return "dirty_words", f"count={len(hits)} > {self.max_dirty_words}; {words}"

    def judge(self, batch: pa.RecordBatch) -> Judgement:
        urls = batch.column("url").to_pylist()
        texts = batch.column("text").to_pylist() if len(self._dirty) else [""] * batch.num_rows
        verdicts = [self.url_verdict(u) or self.text_verdict(t) for u, t in zip(urls, texts)]
        keep = np.asarray([v is None for v in verdicts], bool)
        return Judgement(keep=keep, reasons=[v and v[0] for v in verdicts], details=[v and v[1] for v in verdicts])


@dataclass(frozen=True)
class UrlFilterSettings:
    """Where the lists come from (a local path or an http(s) URL each; empty: that list is not used) and the
    thresholds. ``blocklists``: a UT1 archive or extracted folder (e.g.
    https://dsi.ut-capitole.fr/blacklists/download/blacklists.tar.gz); the word lists: one entry a line."""

    blocklists: str = ""
    categories: tuple[str, ...] = URL_BLOCKLIST_CATEGORIES
    banned_words: str = ""
    soft_banned_words: str = ""
    banned_subwords: str = ""
    soft_threshold: int = URL_SOFT_BANNED_WORDS_THRESHOLD
    dirty_words: str = ""
    max_dirty_words: int = DIRTY_WORDS_MAX_COUNT


def load_url_filter(settings: UrlFilterSettings, source: str, cache: Path) -> tuple[UrlFilter, dict[str, int], str]:
    """The filter of ``source`` the settings describe (lists fetched into ``cache``; ``dataclasses.replace(f,
    source=...)`` gives another source's), the size of each list it uses, and a fingerprint of the lists'
    entries and the thresholds (a list that changes at its URL recomputes the parts)."""
    specs = {name: getattr(settings, name) for name in ("banned_words", "soft_banned_words", "banned_subwords", "dirty_words")}
    words = {name: read_entries(fetch_list(spec, cache)) if spec else [] for name, spec in specs.items()}
    lists = read_ut1(fetch_list(settings.blocklists, cache), settings.categories) if settings.blocklists else Blocklists()
    flt = UrlFilter(source, lists, soft_threshold=settings.soft_threshold, max_dirty_words=settings.max_dirty_words, **words)
    sizes = {"blocklisted_domains": len(lists.domains), "blocklisted_urls": len(lists.urls),
             **{name: len(entries) for name, entries in words.items()}}
    content = fingerprint(sorted(lists.domains.items()), sorted(lists.urls.items()), words,
                          settings.soft_threshold, settings.max_dirty_words)
    return flt, sizes, content
