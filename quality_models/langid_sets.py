"""Labelled text from outside the distribution the refiners train on (the lingua/Leipzig news sentences
of ``labelled.tsv``), to check that the refiners never make lid.176's answer worse elsewhere.

- ``wikipedia``: sentences of the Wikipedia sample dumps (en + de/fr/ru/es/it/pl/nl/sv/uk), read with the
  project's dump reader and labelled by the dump's language. None of them is bs/hr/sr/da/nb, so this set
  checks that a refiner never fires where it should not (and, when it does, costs nothing).
- ``gettext``: the translated messages of GLib and GTK 3 (Debian packages ``libglib2.0-data`` and
  ``libgtk-3-common``, installed by ``scripts/setup.sh``), labelled by their translators' locale: bs, hr,
  sr (Cyrillic), sr@latin (Latin Serbian, label ``sr``), da, nb. Software messages, not news, and the
  only real Latin Serbian on the machine: the samples hold no other bs/hr/sr/da/nb text beyond one
  Norwegian web page in the 2008 ARC file.

Both are ``(label, sentence)`` rows in a fixed order, like ``langid.read_labelled``.
"""
from __future__ import annotations

import gettext
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from corpus.schema import Drop
from corpus.sources import wikipedia
from quality_models.language_identifier import REPO, Evaluation, LanguageIdentifier, evaluate

SETS = ("wikipedia", "gettext")
# Sentences per dump and per page: enough for a stable accuracy, few enough for a test of seconds.
WIKIPEDIA_PER_LANGUAGE = 200
WIKIPEDIA_PER_PAGE = 100
MIN_WORDS = 5
MAX_WORDS = 60
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

GETTEXT_DIR = Path("/usr/share/locale")
GETTEXT_DOMAINS = ("glib20", "gtk30")
# gettext locale -> label: Serbian comes in both scripts, each from its own catalog.
GETTEXT_LOCALES = {"bs": "bs", "hr": "hr", "sr": "sr", "sr@latin": "sr", "da": "da", "nb": "nb"}
GETTEXT_MIN_WORDS = 4
# printf/format placeholders, markup, mnemonic underscores and ampersands, escaped newlines: not language.
_NOT_TEXT = re.compile(r"%(?:\d+\$)?[-+ #0']*\d*(?:\.\d+)?[hlLqjzt]*[a-zA-Z%]|\{[^}]*\}|<[^>]+>|[_&](?=\w)|\\n")


def default_wikipedia_dir() -> Path:
    """The Wikipedia samples beside the checkout (../shared/samples/wikipedia)."""
    return REPO.parent / "shared" / "samples" / "wikipedia"


def sentences(text: str) -> Iterator[str]:
    """Sentences of a plain-text article: paragraphs split after . ! ? (the end kept), 5-60 words."""
    for paragraph in text.split("\n"):
        for sentence in SENTENCE_END.split(paragraph.strip()):
            if sentence[-1:] in ".!?" and MIN_WORDS <= len(sentence.split()) <= MAX_WORDS:
                yield sentence


def wikipedia_rows(root: Path, per_language: int = WIKIPEDIA_PER_LANGUAGE,
                   per_page: int = WIKIPEDIA_PER_PAGE) -> list[tuple[str, str]]:
    """Up to ``per_language`` unique sentences per dump (at most ``per_page`` from one article), dump order."""
    dumps = wikipedia.discover_inputs(root)
    if not dumps:
        raise FileNotFoundError(f"no Wikipedia dumps under {root}")
    rows = []
    for path in dumps:
        seen: set[str] = set()
        for doc in wikipedia.read_documents(path, path.name):
            if isinstance(doc, Drop):
                continue
            page = [s for s in dict.fromkeys(sentences(doc["text"])) if s not in seen][:per_page]
            page = page[:per_language - len(seen)]
            seen.update(page)
            rows += [(doc["lang"], s) for s in page]
            if len(seen) >= per_language:
                break
    return rows


def gettext_rows(locale_dir: Path = GETTEXT_DIR, domains: tuple[str, ...] = GETTEXT_DOMAINS) -> list[tuple[str, str]]:
    """Unique translated messages of at least 4 words per locale, placeholders and markup removed."""
    rows = []
    for locale, label in GETTEXT_LOCALES.items():
        seen: set[str] = set()
        for domain in domains:
            path = locale_dir / locale / "LC_MESSAGES" / f"{domain}.mo"
            if not path.is_file():
                raise FileNotFoundError(f"{path} missing: scripts/setup.sh installs libglib2.0-data and libgtk-3-common")
            with open(path, "rb") as fh:
                catalog = gettext.GNUTranslations(fh)._catalog
            for key, message in catalog.items():
                if key == "" or isinstance(key, tuple) and key[1] != 0:
                    continue  # the catalog's header; plural forms beyond the first repeat the singular's words
                text = " ".join(_NOT_TEXT.sub(" ", message).split())
                if len(text.split()) >= GETTEXT_MIN_WORDS and text not in seen:
                    seen.add(text)
                    rows.append((label, text))
    return rows


def rows_of(name: str) -> list[tuple[str, str]]:
    """One named set with its default inputs."""
    if name == "wikipedia":
        return wikipedia_rows(default_wikipedia_dir())
    if name == "gettext":
        return gettext_rows()
    raise ValueError(f"unknown labelled set {name!r}: one of {', '.join(SETS)}")


@dataclass(frozen=True)
class SetEvaluation:
    """lid.176 alone and refined (None: no refiners) on one labelled set of ``sentences`` rows."""

    sentences: int
    base: Evaluation
    refined: Evaluation | None

    def summary(self, name: str) -> str:
        return (f"langid on {name} ({self.sentences} sentences): lid.176 {self.base.accuracy:.4f}"
                + (f", refined {self.refined.accuracy:.4f}" if self.refined else ""))


def evaluate_sets(base: LanguageIdentifier, refined: LanguageIdentifier | None, heldout: list[tuple[str, str]],
                  warn: Callable[[str], None]) -> dict[str, SetEvaluation]:
    """Both identifiers on the refiners' held-out half (``heldout``) and on every set of ``SETS`` found; a
    set whose files are missing is left out, said through ``warn``."""
    sets = {"heldout": heldout}
    for name in SETS:
        try:
            sets[name] = rows_of(name)
        except FileNotFoundError as exc:
            warn(f"labelled set {name} not evaluated: {exc}")
    return {name: SetEvaluation(len(rows), evaluate(base, rows), evaluate(refined, rows) if refined else None)
            for name, rows in sets.items()}
