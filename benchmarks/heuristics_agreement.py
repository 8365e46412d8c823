"""Keep/drop agreement of our heuristic filters with datatrove 0.10.1's on the same documents, per filter
family, with every disagreement given a cause.

    PYTHONPATH=. .venv/bin/python -m benchmarks.heuristics_agreement [--samples ../shared/samples] [--json OUT]

Documents: the samples' web pages as our CommonCrawl ingest delivers them (every WET/WARC/ARC file under
``commoncrawl/``) and the C4 documents. Families (ours -> datatrove's, default settings on both sides):
Gopher quality + repetition (``GopherFilter`` -> ``GopherQualityFilter`` then ``GopherRepetitionFilter``),
C4 (``C4RulesFilter`` -> ``C4QualityFilter``), FineWeb (``FineWebFilter`` -> ``FineWebQualityFilter``).
Each family is judged on the raw document, alone (not chained), so a disagreement is that family's own.
Then each Gopher rule alone (``GOPHER_RULES``: every other rule off on both sides), a table that shows which
rule the family's disagreements come from.

A disagreement's cause is found by re-running datatrove's rule with one of our definitions swapped in
(``CAUSES``, checked in order); one that no swap explains is ``unexplained``. datatrove's word tokenizer
for English is SpaCy's blank ``en`` (no model download): the ``bench`` extra pins spacy.
"""
from __future__ import annotations

import argparse
import functools
import inspect
import json
import math
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pyarrow as pa

from corpus.filters import c4_rules, fineweb, gopher
from corpus.sources import reader

SOURCES = ("commoncrawl", "c4")


def sample_documents(samples: Path) -> list[dict]:
    """(source, id, text) of every document our ingest reads from the samples' web sources."""
    docs = []
    for source in SOURCES:
        module = reader(source)
        root = samples / source
        for path in module.discover_inputs(root):
            name = str(path.relative_to(root))
            docs += [{"source": source, "id": d["id"], "text": d["text"]}
                     for d in module.read_documents(path, name) if isinstance(d, dict)]
    return docs


# ------------------------------------------------------------------ datatrove's side (imported lazily)

def _dt_doc(text: str, i: int):
    from datatrove.data import Document

    return Document(text=text, id=str(i))


def _dt_verdict(filters, text: str, i: int) -> str | None:
    """None: kept by every filter; else the first one's reason."""
    for f in filters:
        out = f.filter(_dt_doc(text, i))
        if out is not True and (out is False or not out[0]):
            return out[1] if isinstance(out, tuple) else type(f).__name__
    return None


class PaperAlphaWords:
    """datatrove's alpha-words rule, its own expression and threshold (``GopherQualityFilter``'s
    ``max_non_alpha_words_ratio``, 0.8), over the paper's whitespace-separated words instead of SpaCy tokens
    (Rae et al. 2021, appendix A.1.1: "at least one alphabetic character" in 80% of words)."""

    def __init__(self, min_ratio: float = 0.8):
        self.min_ratio = min_ratio

    def filter(self, doc) -> bool | tuple[bool, str]:
        words = doc.text.split()
        if words and sum(any(c.isalpha() for c in w) for w in words) / len(words) < self.min_ratio:
            return False, "gopher_below_alpha_threshold"
        return True


def datatrove_filters(family: str) -> list:
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)

    return {"gopher": [GopherQualityFilter(), GopherRepetitionFilter()],
            "gopher_paper_alpha_words": [GopherQualityFilter(max_non_alpha_words_ratio=None), PaperAlphaWords(),
                                         GopherRepetitionFilter()],
            "c4": [C4QualityFilter()], "fineweb": [FineWebQualityFilter()]}[family]


# ------------------------------------------------------------------ ours

def our_reasons(family: str, texts: list[str]) -> list[str | None]:
    arr = pa.array(texts, pa.large_string())
    if family.startswith("gopher"):  # ours as configured against both: our alpha rule is the paper's
        return list(gopher.gopher_reasons(arr)[0])
    if family == "c4":
        return list(c4_rules.c4_clean(arr)[0])
    return list(fineweb.fineweb_reasons(arr)[0])


# ------------------------------------------------------------------ causes of disagreement

def _whitespace_gopher_quality(text: str) -> str | None:
    """datatrove's GopherQualityFilter with the paper's whitespace words (ours) instead of SpaCy tokens."""
    import datatrove.pipeline.filters.gopher_quality_filter as gq

    original = gq.split_into_words
    gq.split_into_words = lambda t, language=None: t.split()
    try:
        out = gq.GopherQualityFilter().filter(_dt_doc(text, 0))
    finally:
        gq.split_into_words = original
    return None if out is True else out[1]


def _case_insensitive_stop_words(text: str) -> bool:
    """datatrove's stop-word rule fails and passes once the words are lower-cased (ours is case-insensitive)."""
    from datatrove.utils.text import split_into_words

    words = split_into_words(text)
    stops = {"the", "be", "to", "of", "and", "that", "have", "with"}
    return len(stops & set(words)) < 2 <= len(stops & {w.lower() for w in words})


def _sentence_count_differs(text: str) -> bool:
    """Only C4's sentence minimum differs: our sentence-end count vs datatrove's SpaCy sentences."""
    r, d, _ = c4_rules.c4_clean(pa.array([text], pa.large_string()))
    ours_few = r[0] == "c4_too_few_sentences"
    theirs = _dt_verdict(datatrove_filters("c4"), text, 0)
    return ours_few != (theirs == "too_few_sentences") and (r[0] in (None, "c4_too_few_sentences"))


def _paper_repetition_on_spacy_tokens(text: str, ours: str) -> bool:
    """Our repetition rule ``ours`` (``gopher_top_{n}_gram`` / ``gopher_dup_{n}_gram``) still fails when
    computed, with the paper's definition, on datatrove's SpaCy tokens: then the difference is datatrove's
    greedy duplicate scan, not the tokens."""
    from datatrove.utils.text import split_into_words

    kind, n = ours.split("_")[1], int(ours.split("_")[2])
    words = split_into_words(text)
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    if kind == "top":
        limit = dict(gopher.GopherRules().top_ngram_char_frac)[n]
        gram, count = Counter(grams).most_common(1)[0]
        return (sum(map(len, gram)) + n - 1) * count / len(text) > limit
    limit = dict(gopher.GopherRules().dup_ngram_char_frac)[n]
    seen, covered = set(), [False] * len(words)
    for i, g in enumerate(grams):
        if g in seen:
            covered[i:i + n] = [True] * n
        seen.add(g)
    return sum(len(w) for w, c in zip(words, covered) if c) / len(text) > limit


@dataclass
class Agreement:
    family: str
    docs: int = 0
    agree: int = 0
    by_source: dict = field(default_factory=dict)
    disagreements: list = field(default_factory=list)  # (source, id, ours, datatrove, cause)

    @property
    def rate(self) -> float:
        return self.agree / self.docs if self.docs else 0.0

    def causes(self) -> dict[str, int]:
        return dict(Counter(d[4] for d in self.disagreements).most_common())


def explain(family: str, text: str, ours: str | None, theirs: str | None) -> str:
    if family.startswith("gopher"):
        if ours is None and theirs == "gopher_below_alpha_threshold":
            return "alpha words: datatrove counts punctuation tokens as words (paper: whitespace words)"
        if theirs == "gopher_enough_stop_words" and _case_insensitive_stop_words(text):
            return "stop words: datatrove is case-sensitive ('The' is no 'the')"
        quality = (ours or "").startswith("gopher_") and not (ours or "").endswith(("_gram", "_frac", "_chars"))
        if (quality or (theirs or "").startswith("gopher_")) and \
                (_whitespace_gopher_quality(text) is None) == (ours is None):
            return "words: SpaCy tokens vs whitespace words (quality rules: '#'/ellipsis per word, counts)"
    if family == "c4" and _sentence_count_differs(text):
        return "sentences: our sentence-end count vs SpaCy's sentencizer (abbreviations, quotes)"
    if family.startswith("gopher") and theirs is None and ours and ours.startswith(("gopher_top_", "gopher_dup_")) \
            and ours.endswith("_gram"):
        if _paper_repetition_on_spacy_tokens(text, ours):
            return "n-grams: datatrove's greedy scan skips the n-grams inside a repeat (paper: every repeat counts)"
        return "n-grams: our symbol-run tokens vs SpaCy's tokens"
    return "unexplained"


def agreement(docs: list[dict], family: str) -> Agreement:
    result = Agreement(family)
    ours = our_reasons(family, [d["text"] for d in docs])
    filters = datatrove_filters(family)
    for i, (doc, mine) in enumerate(zip(docs, ours)):
        theirs = _dt_verdict(filters, doc["text"], i)
        same = (mine is None) == (theirs is None)
        result.docs += 1
        result.agree += same
        n, a = result.by_source.get(doc["source"], (0, 0))
        result.by_source[doc["source"]] = (n + 1, a + same)
        if not same:
            result.disagreements.append((doc["source"], doc["id"], mine, theirs, explain(family, doc["text"], mine, theirs)))
    return result


# gopher: datatrove's Gopher filters as shipped. gopher_paper_alpha_words: the same, but its alpha-words rule
# (its own code and threshold) counts the paper's whitespace words, the one definition where we follow the
# paper (issue 18) and datatrove does not: every other rule is datatrove's, on its SpaCy tokens
FAMILIES = ("gopher", "gopher_paper_alpha_words", "c4", "fineweb")


@dataclass
class Results:
    families: dict[str, Agreement]
    gopher_rules: dict[str, dict]  # ``per_rule_agreement``


def run(samples: Path) -> Results:
    """Every family, then each Gopher rule alone, on the samples' web and C4 documents."""
    docs = sample_documents(samples)
    with _datatrove_tokens_cached():
        return Results({f: agreement(docs, f) for f in FAMILIES}, _per_rule_agreement(docs))


# ------------------------------------------------------------------ each Gopher rule on its own

# rule: (our GopherRules fields, datatrove's GopherQualityFilter / GopherRepetitionFilter arguments); every other
# rule is off on both sides (ours: a bound nothing reaches; datatrove: None, or no n-gram sizes)
GOPHER_RULES = {
    "word count": (("min_words", "max_words"), ("min_doc_words", "max_doc_words")),
    "mean word length": (("min_mean_word_chars", "max_mean_word_chars"), ("min_avg_word_length", "max_avg_word_length")),
    "symbol-to-word ratio": (("max_symbol_word_ratio",), ("max_symbol_word_ratio",)),
    "bullet lines": (("max_bullet_lines_ratio",), ("max_bullet_lines_ratio",)),
    "ellipsis lines": (("max_ellipsis_lines_ratio",), ("max_ellipsis_lines_ratio",)),
    "alpha words": (("min_alpha_words_ratio",), ("max_non_alpha_words_ratio",)),
    "stop words": (("min_stop_words",), ("min_stop_words",)),
    "duplicate paragraphs": (("max_dup_para_frac",), ("dup_para_frac",)),
    "duplicate paragraph chars": (("max_dup_para_char_frac",), ("dup_para_char_frac",)),
    "duplicate lines": (("max_dup_line_frac",), ("dup_line_frac",)),
    "duplicate line chars": (("max_dup_line_char_frac",), ("dup_line_char_frac",)),
    "top n-grams": (("top_ngram_char_frac",), ("top_n_grams",)),
    "duplicate n-grams": (("dup_ngram_char_frac",), ("dup_n_grams",)),
}
_OURS_OFF = dict(min_words=0, max_words=2**62, min_mean_word_chars=0.0, max_mean_word_chars=math.inf,
                 max_symbol_word_ratio=math.inf, max_bullet_lines_ratio=math.inf, max_ellipsis_lines_ratio=math.inf,
                 min_alpha_words_ratio=0.0, min_stop_words=0, max_dup_para_frac=math.inf,
                 max_dup_para_char_frac=math.inf, max_dup_line_frac=math.inf, max_dup_line_char_frac=math.inf,
                 top_ngram_char_frac=(), dup_ngram_char_frac=())
_DT_RULE_ARGS = {a for _, theirs in GOPHER_RULES.values() for a in theirs}


def gopher_rule_alone(rule: str) -> tuple[gopher.GopherRules, list]:
    """Our rules and datatrove's two filters with only ``rule`` on, at each side's default."""
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter

    ours_fields, theirs_fields = GOPHER_RULES[rule]
    defaults = gopher.GopherRules()
    ours = gopher.GopherRules(**{**_OURS_OFF, **{f: getattr(defaults, f) for f in ours_fields}})
    filters = []
    for cls in (GopherQualityFilter, GopherRepetitionFilter):  # only the one that has the rule: the other keeps all
        args = [n for n in inspect.signature(cls).parameters if n in _DT_RULE_ARGS]
        if set(args) & set(theirs_fields):
            filters.append(cls(**{n: () if n.endswith("_n_grams") else None for n in args if n not in theirs_fields}))
    return ours, filters


@contextmanager
def _datatrove_tokens_cached() -> Iterator[None]:
    """datatrove's Gopher filters with each text tokenized once: SpaCy is most of their time, and the per-rule
    runs show every text to them once per rule."""
    import datatrove.pipeline.filters.gopher_quality_filter as gq
    import datatrove.pipeline.filters.gopher_repetition_filter as gr

    originals = gq.split_into_words, gr.split_into_words
    gq.split_into_words = gr.split_into_words = functools.lru_cache(maxsize=None)(originals[0])
    try:
        yield
    finally:
        gq.split_into_words, gr.split_into_words = originals


# datatrove's alpha-words rule on the paper's words, beside the rule as datatrove ships it
PAPER_ALPHA_RULE = "alpha words, paper's whitespace words"


def _per_rule_agreement(docs: list[dict]) -> dict[str, dict]:
    """Per Gopher rule alone: documents, agreeing verdicts, and how many each side drops."""
    texts = pa.array([d["text"] for d in docs], pa.large_string())
    out = {}
    for rule in (*GOPHER_RULES, PAPER_ALPHA_RULE):
        if rule == PAPER_ALPHA_RULE:
            ours_rules, filters = gopher_rule_alone("alpha words")[0], [PaperAlphaWords()]
        else:
            ours_rules, filters = gopher_rule_alone(rule)
        ours = [r is not None for r in gopher.gopher_reasons(texts, ours_rules)[0]]
        theirs = [_dt_verdict(filters, d["text"], i) is not None for i, d in enumerate(docs)]
        agree = sum(a == b for a, b in zip(ours, theirs))
        out[rule] = {"docs": len(docs), "agree": agree, "rate": agree / len(docs) if docs else 0.0,
                     "ours_drop": sum(ours), "datatrove_drop": sum(theirs)}
    return out


def report(results: Results) -> Iterator[str]:
    for f, r in results.families.items():
        per = ", ".join(f"{s} {a}/{n}" for s, (n, a) in r.by_source.items())
        yield f"{f}: {r.agree}/{r.docs} agree ({r.rate:.1%}; {per}); disagreements by cause: {json.dumps(r.causes())}"
        for d in r.disagreements:
            yield f"  {d[0]} {d[1]}: ours={d[2]} datatrove={d[3]} -> {d[4]}"
    yield "each Gopher rule alone (every other rule off on both sides):"
    yield "| rule | agree | rate | ours drop | datatrove drop |"
    yield "|---|---|---|---|---|"
    for rule, r in results.gopher_rules.items():
        yield f"| {rule} | {r['agree']}/{r['docs']} | {r['rate']:.1%} | {r['ours_drop']} | {r['datatrove_drop']} |"


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> Results:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "samples")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    results = run(args.samples)
    for line in report(results):
        out(line)
    if args.json:
        args.json.write_text(json.dumps({**{f: {"docs": r.docs, "agree": r.agree, "rate": r.rate, "causes": r.causes(),
                                                "disagreements": r.disagreements} for f, r in results.families.items()},
                                         "gopher_rules": results.gopher_rules}, indent=1))
    return results


if __name__ == "__main__":
    main()
