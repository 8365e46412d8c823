"""The DCLM-style quality classifier on the real samples: trained on the curated sources vs web pages, versioned
and reused, and the filter keeps exactly the top fraction of the snapshot, with the exact reason for the rest."""
from __future__ import annotations

import math

import numpy as np
import pytest

from corpus import presets, recipe
from corpus.filters import quality_classifier as qf
from corpus.schema import documents_to_batch, new_document
from corpus.storage import Layout, iter_batches
from quality_models import quality_classifier as qc
from tests.quality_models.test_kenlm_model import sample_docs, write_parts

PARAMS = qc.QualityParams()  # the recipe's defaults


@pytest.fixture(scope="module")
def trained(samples_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    inputs = qc.QualityInputs(
        {s: write_parts(root, "ingest", s, sample_docs(s, str(samples_dir)))
         for s in recipe.QUALITY_CLASSIFIER_POSITIVE_SOURCES},
        # the web pages stand in for the CCNet chain's output (the chain is tested on its own)
        {"commoncrawl": write_parts(root, "ingest", "commoncrawl", sample_docs("commoncrawl", str(samples_dir)))})
    folder, manifest, reused = qc.train_classifier(inputs, root / "models", PARAMS)
    return root, inputs, folder, manifest, reused


def test_negatives_come_from_the_pool_after_lid_not_the_filters_input(tmp_path):
    llama3 = presets.preset("llama3")
    assert qc.negative_stage(llama3, "commoncrawl") == "langid"  # not wikiref, the stage the filter reads
    # C4 runs no CCNet stage: its pages after the last stage it runs before LID's place
    assert qc.negative_stage(presets.preset("llama3", ["commoncrawl", "c4"]), "c4") == "url_filter"
    assert qc.negative_stage(llama3, "commoncrawl", "ingest") == "ingest"
    with pytest.raises(ValueError, match="negative_stage 'quality_classifier': give a stage before quality_classifier"):
        qc.negative_stage(llama3, "commoncrawl", "quality_classifier")
    layout = Layout(tmp_path / "data")
    for stage in ("ingest", "langid", "wikiref"):
        write_parts(tmp_path / "data", stage, "commoncrawl", {"a": [new_document("commoncrawl", "x", "some text")]})
    inputs = qc.model_inputs(layout, llama3, ["wikipedia"])
    assert inputs.negative_stages == {"commoncrawl": "langid"}
    assert inputs.negatives == {"commoncrawl": layout.docs_parts("langid", "commoncrawl")} != {"commoncrawl": []}
    assert qc.model_inputs(layout, presets.preset("llama1"), ["wikipedia"]).negatives == {}  # no quality filter
    with pytest.raises(ValueError, match=r"positive_sources \['wiki'\]: give one or more of commoncrawl"):
        qc.model_inputs(layout, llama3, ["wiki"])


def test_question_and_top_answer():
    assert qc.question_and_top_answer("Q: t\nbody\nA: best\nA: second\nA: third") == "Q: t\nbody\nA: best"
    assert qc.question_and_top_answer("Q: unanswered") == "Q: unanswered"


@pytest.mark.slow
def test_trained_on_every_positive_source_and_reused(trained):
    root, inputs, folder, manifest, reused = trained
    assert not reused and folder.parent == root / "models" / qc.NAME
    assert manifest["positive_sources"] == ["arxiv", "books", "stackexchange", "wikipedia"]
    assert manifest["negative_sources"] == ["commoncrawl"]
    assert {k for k in manifest["documents"] if k.startswith("train_hq_")} == {
        f"train_hq_{s}" for s in manifest["positive_sources"]}
    assert manifest["documents"]["train_cc_commoncrawl"] + manifest["documents"]["heldout_cc_commoncrawl"] == 318
    assert manifest["heldout_positives"] == manifest["heldout_negatives"] > 100  # balanced
    # held-out whole documents, never trained on: curated prose is told from web pages
    assert manifest["heldout_document_auc"] >= 0.9
    # the held-out documents' scores per class, binned on [0, 1]: every document counted, the classes apart
    histogram = manifest["heldout_document_score_histogram"]
    assert [sum(histogram["hq"]), sum(histogram["cc"])] == [manifest["heldout_document_positives"]] * 2
    centre = {label: np.average(np.arange(qc.SCORE_BINS) + 0.5, weights=counts) / qc.SCORE_BINS
              for label, counts in histogram.items()}
    assert centre["hq"] > 0.5 > centre["cc"], centre
    again, manifest_again, reused_again = qc.train_classifier(inputs, root / "models", PARAMS)
    assert reused_again and again == folder and manifest_again == manifest


@pytest.mark.slow
def test_keeps_the_top_tenth_of_the_snapshot_with_exact_reasons(trained):
    _, inputs, folder, _, _ = trained
    scorer = qc.scorer_of(folder)
    known = qf.score_sample(scorer, inputs.negatives["commoncrawl"], recipe.QUALITY_CLASSIFIER_SAMPLE_DOCS)
    scores = np.asarray(list(known.values()))
    threshold = qf.keep_threshold(scores, recipe.QUALITY_CLASSIFIER_KEEP_FRACTION)
    assert len(scores) == 318 and np.sum(scores >= threshold) == math.ceil(0.1 * 318) == 32
    # a bounded sample: 100 documents, chosen by id hash, the same whatever the part order
    small = qf.score_sample(scorer, inputs.negatives["commoncrawl"][::-1], 100)
    assert len(small) == 100 and all(known[i] == s for i, s in small.items())
    flt = qf.QualityClassifierFilter("commoncrawl", scorer, threshold, known)
    kept, dropped, urls = {}, {}, {}
    for batch in iter_batches(sorted(inputs.negatives["commoncrawl"])):
        urls.update(zip(batch.column("url").to_pylist(), batch.column("id").to_pylist()))
        k, d = flt(batch)
        kept.update(zip(k.column("url").to_pylist(), k.column(qf.COLUMN).to_pylist()))
        dropped.update((r["id"], r) for r in d.to_pylist())
    assert len(kept) == 32 and len(dropped) == 318 - 32
    assert all(s >= np.float32(threshold) for s in kept.values())
    assert {r["reason"] for r in dropped.values()} == {qf.drop_reason(threshold)} == {"quality_classifier<0.5868"}
    # a parish newsletter is kept; a link-farm page is dropped, its score in the detail
    assert "http://stjohnspassaic.org/newsletter-031208_004.htm" in kept
    spam = dropped[urls["http://0615235.com/02mjqjo%7Bibotij2.btq?odmbtt=106&tdmbtt=121"]]
    assert spam["stage"] == "quality_classifier" and spam["reason"] == qf.drop_reason(threshold)
    assert float(spam["detail"].removeprefix("p=")) < threshold


def test_keep_threshold_ranks():
    assert qf.keep_threshold(np.array([0.1, 0.9, 0.5, 0.7]), 0.5) == 0.7
    assert qf.keep_threshold(np.array([0.3]), 0.1) == 0.3  # at least one document
    assert qf.keep_threshold(np.array([0.2, 0.2, 0.2, 0.1]), 0.25) == 0.2  # ties at the threshold all stay
    with pytest.raises(ValueError, match="no scored documents"):
        qf.keep_threshold(np.array([]), 0.1)
    with pytest.raises(ValueError, match=r"keep_fraction must be in \(0, 1\]"):
        qf.keep_threshold(np.array([0.5]), 0.0)


def test_a_cutoff_reports_its_threshold_quantiles_and_histogram():
    cutoff = qf.Cutoff({"a": 0.2, "b": 0.9, "c": 0.5, "d": 0.7}, 0.5)
    assert cutoff.threshold == 0.7 and cutoff.part_settings("v1") == {"model": "v1", "min_score": 0.7, "keep_fraction": 0.5}
    report = cutoff.report("commoncrawl")
    assert report["min_score_commoncrawl"] == 0.7 and report["score_histogram_commoncrawl"].startswith(b"\x89PNG")
    assert report["score_quantiles_commoncrawl"] == {"p10": 0.29, "p50": 0.6, "p90": 0.84, "p99": 0.894}
    assert cutoff.filter("commoncrawl", None).min_score == 0.7 and cutoff.filter("commoncrawl", None).known == cutoff.known
    empty = qf.Cutoff({}, 0.5)  # a source with no documents: no cut-off, nothing to report
    assert empty.threshold is None and empty.report("commoncrawl") == {}


@pytest.mark.slow
def test_the_score_column_is_filled_and_nothing_else_changes(trained):
    _, inputs, folder, _, _ = trained
    docs = [d for b in iter_batches(sorted(inputs.negatives["commoncrawl"])[:1]) for d in b.to_pylist()][:20]
    batch = documents_to_batch(docs)
    kept, dropped = qf.QualityClassifierFilter("commoncrawl", qc.scorer_of(folder), 0.0)(batch)
    assert dropped.num_rows == 0 and kept.schema == batch.schema
    assert kept.drop_columns([qf.COLUMN]).equals(batch.drop_columns([qf.COLUMN]))
    assert kept.column(qf.COLUMN).null_count == 0 and batch.column(qf.COLUMN).null_count == 20
    # known scores are used as they are; only the others are computed
    scores = kept.column(qf.COLUMN).to_pylist()
    reused, _ = qf.QualityClassifierFilter("commoncrawl", qc.scorer_of(folder), 0.0, {docs[0]["id"]: 0.5})(batch)
    assert reused.column(qf.COLUMN).to_pylist() == [0.5, *scores[1:]]
