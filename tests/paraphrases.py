"""Near-paraphrases of real documents: sentence order shuffled, a share of words replaced by WordNet synonyms.

The synonyms are Princeton WordNet 3.0's, from Debian's ``wordnet-base`` package (``scripts/setup.sh`` installs
it): for a single-word lemma, the first other single-word lemma of its most frequent sense (the first synset
its ``index.<pos>`` line lists), looking in nouns, verbs, adjectives, adverbs in that order.
"""
from __future__ import annotations

import functools
import random
import re
from pathlib import Path

from tests import web_pages

WORDNET = Path("/usr/share/wordnet")
POS = ("noun", "verb", "adj", "adv")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[A-Za-z]+")
# the semantic-dedup tests' corpus: paraphrases of the first PAIRS English articles over MIN_CHARS characters
SHARE, PAIRS, MIN_CHARS = 0.3, 40, 2000


def _synset_words(pos: str) -> dict[str, list[str]]:
    """synset offset -> its lemmas (data.<pos>: offset lex_filenum ss_type w_cnt(hex) word lex_id ...)."""
    out = {}
    for line in (WORDNET / f"data.{pos}").open(encoding="latin-1"):
        if line.startswith("  "):  # the licence header
            continue
        f = line.split(" ")
        out[f[0]] = [re.sub(r"\(.*\)$", "", f[4 + 2 * i]).lower() for i in range(int(f[3], 16))]
    return out


@functools.lru_cache(maxsize=1)
def synonyms() -> dict[str, str]:
    """lemma -> a synonym of its most frequent sense (single words only)."""
    if not (WORDNET / "index.noun").exists():
        raise FileNotFoundError(f"WordNet not found under {WORDNET}: scripts/setup.sh installs Debian's wordnet-base")
    out: dict[str, str] = {}
    for pos in POS:
        synsets = _synset_words(pos)
        for line in (WORDNET / f"index.{pos}").open(encoding="latin-1"):
            if line.startswith("  "):
                continue
            f = line.split()
            lemma = f[0]
            if "_" in lemma or lemma in out:
                continue
            first_sense = f[-int(f[2])]  # synset_cnt offsets end the line, most frequent sense first
            for word in synsets[first_sense]:
                if word != lemma and _WORD.fullmatch(word):
                    out[lemma] = word
                    break
    return out


def paraphrase(text: str, share: float, seed: int) -> str:
    """The sentences of ``text`` in a seeded random order, each word with a WordNet synonym replaced by it
    with probability ``share`` (its case kept when it was capitalised)."""
    rng = random.Random(seed)
    table = synonyms()
    sentences = _SENTENCE_END.split(text)
    rng.shuffle(sentences)

    def swap(m: re.Match) -> str:
        word = m.group(0)
        synonym = table.get(word.lower())
        if synonym is None or rng.random() >= share:
            return word
        return synonym.capitalize() if word[0].isupper() else synonym

    return " ".join(_WORD.sub(swap, s) for s in sentences)


def wikipedia_articles(samples_dir: Path) -> tuple[list[str], list[str]]:
    """(titles, texts) of the English Wikipedia articles of the samples (106), in dump order."""
    docs = [d for d in web_pages.wikipedia_documents(samples_dir) if d["lang"] == "en"]
    return [d["url"].rsplit("/", 1)[1] for d in docs], [d["text"] for d in docs]


def paraphrased_articles(texts: list[str]) -> list[tuple[int, str]]:
    """(article index, paraphrase) of the first PAIRS articles over MIN_CHARS characters (seeded by the index)."""
    chosen = [i for i, t in enumerate(texts) if len(t) > MIN_CHARS][:PAIRS]
    return [(i, paraphrase(texts[i], SHARE, seed=i)) for i in chosen]
