"""The Wikipedia-reference classifier trained on the real samples: fallback positives, held-out AUC, versioning."""
import dataclasses
import functools
from pathlib import Path

import numpy as np
import pytest

from corpus import recipe
from corpus.sources import c4
from corpus.storage import Layout
from quality_models import wikiref
from quality_models.wikiref import WikirefParams, auc, chunks, normalize_url
from tests.quality_models.test_kenlm_model import sample_docs, write_parts


def default_params(**kw) -> WikirefParams:
    p = WikirefParams(min_positives=recipe.WIKIREF_MIN_POSITIVES, min_positive_chars=recipe.WIKIREF_MIN_POSITIVE_CHARS,
                      min_example_chars=recipe.WIKIREF_MIN_EXAMPLE_CHARS, holdout_fraction=recipe.WIKIREF_HOLDOUT_FRACTION,
                      negative_sources=recipe.WIKIREF_NEGATIVE_SOURCES, lr=recipe.WIKIREF_FASTTEXT_LR,
                      dim=recipe.WIKIREF_FASTTEXT_DIM, epoch=recipe.WIKIREF_FASTTEXT_EPOCH,
                      word_ngrams=recipe.WIKIREF_FASTTEXT_WORD_NGRAMS)
    return dataclasses.replace(p, **kw)


def ingest_parts(samples: str, root: Path) -> dict[str, list[Path]]:
    """wikipedia, books, commoncrawl and c4 ingest parts from the real samples."""
    layout = Layout(root)
    for source in ("wikipedia", "books", "commoncrawl"):
        if not layout.docs_parts("ingest", source):
            write_parts(root, "ingest", source, sample_docs(source, samples))
    if not layout.docs_parts("ingest", "c4"):
        files = c4.discover_inputs(Path(samples) / "c4")
        write_parts(root, "ingest", "c4", {f.name: list(c4.read_documents(f, f.name)) for f in files})
    return {s: layout.docs_parts("ingest", s) for s in ("wikipedia", "books", "commoncrawl", "c4")}


@functools.lru_cache(maxsize=None)
def trained_classifier(samples: str, root: str):
    parts = ingest_parts(samples, Path(root))
    return wikiref.train_classifier(parts["wikipedia"], parts["books"], parts["commoncrawl"], parts,
                                    Layout(Path(root)).models, default_params())


@pytest.fixture(scope="session")
def classifier(samples_dir, tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "wikiref_shared" / "data"
    return (root, *trained_classifier(str(samples_dir), str(root)))


def test_normalize_url_matches_variants_of_one_page():
    a = normalize_url("https://www.Example.com:443/a/b/?q=1#frag")
    assert a == "example.com/a/b?q=1"
    assert normalize_url("http://example.com/a/b?q=1") == a
    assert normalize_url("http://example.com:8080/a") == "example.com:8080/a"
    assert normalize_url("ftp://example.com/x") is None and normalize_url("mailto:x@y.z") is None
    assert normalize_url("http://[bad") is None and normalize_url(None) is None


def test_auc_is_the_mann_whitney_statistic():
    assert auc(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 1.0
    assert auc(np.array([0.1]), np.array([0.9])) == 0.0
    assert auc(np.array([0.5, 0.5]), np.array([0.5])) == 0.5
    assert auc(np.array([0.3, 0.9]), np.array([0.5])) == 0.5
    assert auc(np.array([]), np.array([0.5])) is None


def test_chunks_merge_paragraph_lines_to_a_minimum_size():
    text = "\n".join(["a" * 50] * 9)
    out = chunks(text, 200)
    assert [len(c) for c in out] == [203, 254]  # 4 lines, then 4 + the short tail
    assert chunks("short", 200) == ["short"]


def test_too_few_cited_pages_falls_back_to_curated_positives_and_says_so(classifier):
    _, folder, manifest, _ = classifier
    # the samples' Wikipedia pages cite thousands of URLs, none of which is in the 16-page CC sample
    assert manifest["cited_urls"] > 1000 and manifest["cited_pages_matched"] < recipe.WIKIREF_MIN_POSITIVES
    assert manifest["positives_source"] == "fallback_curated"
    ex = manifest["examples"]
    assert ex["train_wikiref_wikipedia"] > 0 and ex["train_wikiref_books"] > 0
    assert ex["train_random_commoncrawl"] > 0 and ex["train_random_c4"] > 0
    train_pos = ex["train_wikiref_wikipedia"] + ex["train_wikiref_books"]
    assert train_pos == ex["train_random_commoncrawl"] + ex["train_random_c4"]  # balanced classes
    assert (folder / "model.bin").exists()


def test_ranks_heldout_curated_paragraphs_above_random_web_pages(classifier):
    """Held-out documents (none of their chunks trained on): AUC and balanced accuracy."""
    _, _, manifest, _ = classifier
    assert manifest["heldout_examples"] > 100
    # measured with the recipe's defaults over several runs (fastText varies run to run, see below):
    # AUC 0.64-0.77 overall, ~0.77 Wikipedia vs CC, ~0.94 Books vs CC, ~0.54 Wikipedia vs clean English C4
    assert manifest["heldout_auc"] >= 0.6
    assert manifest["heldout_auc_wikipedia_vs_commoncrawl"] >= 0.6
    assert manifest["heldout_auc_books_vs_commoncrawl"] >= 0.8
    assert manifest["heldout_auc_wikipedia_vs_c4"] is not None  # reported, not claimed
    assert 0 <= manifest["heldout_accuracy"] <= 1  # balanced accuracy at P=0.5: 0.52-0.72 seen, reported only


def test_same_data_reuses_the_model_and_gives_the_same_version(classifier, tmp_path):
    root, folder, manifest, _ = classifier
    layout = Layout(root)
    parts = {s: layout.docs_parts("ingest", s) for s in ("wikipedia", "books", "commoncrawl", "c4")}
    again, manifest2, reused = wikiref.train_classifier(parts["wikipedia"], parts["books"], parts["commoncrawl"],
                                                        parts, layout.models, default_params())
    assert reused and again == folder
    fresh, manifest3, reused3 = wikiref.train_classifier(parts["wikipedia"], parts["books"], parts["commoncrawl"],
                                                         parts, tmp_path / "models", default_params())
    assert not reused3 and manifest3["version"] == manifest["version"]  # same examples, same parameters
    # fastText itself is not bit-reproducible here even with thread=1 and a seed (AUC 0.735-0.768 seen):
    # reruns are reproducible because the versioned model is reused, not retrained
    assert manifest3["heldout_examples"] == manifest["heldout_examples"]


def test_enough_cited_pages_are_used_as_positives(classifier, tmp_path):
    """With min_positives lowered to what the samples can give, the cited-page path is taken."""
    root, *_ = classifier
    layout = Layout(root)
    parts = {s: layout.docs_parts("ingest", s) for s in ("wikipedia", "books", "commoncrawl", "c4")}
    positives, info = wikiref.find_positives(parts["wikipedia"], parts["books"], parts["commoncrawl"],
                                             default_params(min_positives=0))
    assert info["positives_source"] == "wikipedia_references" and positives == []
