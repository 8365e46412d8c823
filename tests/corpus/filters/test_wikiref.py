"""The wikiref filter: fastText text preparation, P(wiki-ref) in wikiref_score, drops under the threshold."""
import re

import numpy as np
import pyarrow as pa

from corpus import recipe
from corpus.filters import wikiref
from corpus.filters.perplexity import normalize_line
from corpus.schema import DOCUMENT_SCHEMA, new_document
from corpus.sources import c4
from tests.quality_models.test_kenlm_model import sample_docs
from tests.quality_models.test_wikiref import classifier  # noqa: F401  (session fixture)


def test_fasttext_text_is_one_normalised_line():
    assert wikiref.fasttext_text("Hello, World!\n\nIt's 2024 — Café.") == "hello , world ! it ' s 0000 - cafe ."
    assert wikiref.drop_reason(recipe.WIKIREF_MIN_SCORE) == "wikiref<0.25"


def line_by_line_fasttext_text(text: str) -> str:
    """The definition ``fasttext_text`` computes at once: CCNet's ``normalize_line`` of each line, the non-empty
    ones joined by spaces, punctuation padded with spaces, whitespace runs collapsed."""
    lines = (normalize_line(line) for line in text.split("\n"))
    return re.sub(r"\s+", " ", re.sub(r"([^\w\s])", r" \1 ", " ".join(line for line in lines if line))).strip()


def test_fasttext_text_is_the_line_by_line_normalisation_on_every_sample_and_character(samples_dir):
    """The whole-text passes (ASCII as bytes, non-ASCII by a table) give the very string the quality classifier
    and wikiref models were trained on: on every sample document (Wikipedia's are left out: their reader takes
    half a minute), and on each code point up to CJK punctuation and of the half/full-width forms, between letters,
    at a line's start and end (controls, combining marks, Unicode digits, spaces, punctuation, CCNet's table)."""
    texts = [d["text"] for source in ("commoncrawl", "c4", "books", "stackexchange", "arxiv")
             for docs in sample_docs(source, str(samples_dir)).values() for d in docs]
    assert len(texts) == 636
    assert [wikiref.fasttext_text(t) for t in texts] == [line_by_line_fasttext_text(t) for t in texts]
    chars = [chr(c) for c in [*range(0x3100), *range(0xFE00, 0x10000)] if not 0xD800 <= c < 0xE000]
    probes = [f"Ab{c}9z \t{c}\n{c}x {c}" for c in chars]
    assert [wikiref.fasttext_text(p) for p in probes] == [line_by_line_fasttext_text(p) for p in probes]


def test_filter_scores_real_documents_and_drops_under_threshold(classifier, samples_dir):  # noqa: F811
    _, folder, _, _ = classifier
    scorer = wikiref.WikirefScorer(folder / "model.bin")
    web = [new_document("commoncrawl", f"c4:{i}", d["text"], lang="en")
           for i, d in enumerate(d for f in c4.discover_inputs(samples_dir / "c4") for d in c4.read_documents(f, f.name))]
    cc = [new_document("commoncrawl", d["id"], d["text"], url=d["url"])
          for docs in sample_docs("commoncrawl", str(samples_dir)).values() for d in docs]
    batch = pa.RecordBatch.from_pylist(web + cc, schema=DOCUMENT_SCHEMA)
    kept, dropped = wikiref.WikirefFilter(scorer, recipe.WIKIREF_MIN_SCORE, "commoncrawl")(batch)
    scores = scorer.score(batch.column("text").to_pylist())
    assert ((scores >= 0) & (scores <= 1)).all()
    assert kept.num_rows + dropped.num_rows == batch.num_rows
    assert kept.num_rows == int((scores >= recipe.WIKIREF_MIN_SCORE).sum())
    assert all(s >= recipe.WIKIREF_MIN_SCORE for s in kept.column("wikiref_score").to_pylist())
    assert set(dropped.column("reason").to_pylist()) <= {"wikiref<0.25"}
    assert all(d.startswith("p=") for d in dropped.column("detail").to_pylist())
    # a threshold above every score drops everything, with the reason naming it
    _, all_dropped = wikiref.WikirefFilter(scorer, 1.01, "commoncrawl")(batch)
    assert all_dropped.num_rows == batch.num_rows and all_dropped.column("reason")[0].as_py() == "wikiref<1.01"


def test_filter_bins_kept_scores_per_language_and_every_score(classifier, samples_dir):  # noqa: F811
    """The stage's score plots come from these fixed-bin histograms, not from dropped.detail."""
    _, folder, _, _ = classifier
    scorer = wikiref.WikirefScorer(folder / "model.bin")
    docs = [new_document("commoncrawl", f"c4:{i}", d["text"], lang="en" if i % 3 else "de")
            for i, d in enumerate(d for f in c4.discover_inputs(samples_dir / "c4") for d in c4.read_documents(f, f.name))]
    batch = pa.RecordBatch.from_pylist(docs, schema=DOCUMENT_SCHEMA)
    outcome = wikiref.WikirefFilter(scorer, recipe.WIKIREF_MIN_SCORE, "commoncrawl").apply(batch)
    scores = scorer.score(batch.column("text").to_pylist())
    assert sum(outcome.histograms[wikiref.ALL_SCORED]) == len(docs)
    assert outcome.histograms[wikiref.ALL_SCORED] == np.histogram(scores, bins=wikiref.SCORE_BINS)[0].tolist()
    langs = np.array([d["lang"] for d in docs])
    for lang in ("en", "de"):
        kept = scores[(scores >= recipe.WIKIREF_MIN_SCORE) & (langs == lang)]
        assert sum(outcome.histograms.get(wikiref.KEPT_PREFIX + lang, [])) == kept.size
    assert sum(sum(h) for k, h in outcome.histograms.items() if k != wikiref.ALL_SCORED) == outcome.kept.num_rows
