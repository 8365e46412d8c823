"""CCNet perplexity: normalisation, cc_net's document scoring, cut-offs from data scored by the same model,
and what the models say about real text (tests/web_pages.py), for the project's own models and for a
model in CCNet's release format fetched from a loopback URL."""
import re
import unicodedata
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from corpus import recipe
from corpus.filters import perplexity as ppl
from corpus.schema import DOCUMENT_SCHEMA, new_document
from quality_models import kenlm_model
from tests import web_pages
from tests.httpserver import serve
from tests.quality_models.test_kenlm_model import ccnet_format_models, sample_docs, shared_root, trained_models


@pytest.fixture(scope="session")
def models(samples_dir, tmp_path_factory):
    folder, manifest = trained_models(str(samples_dir), str(shared_root(tmp_path_factory)))
    return ppl.PerplexityScorer(folder), manifest


@pytest.fixture(scope="session")
def ccnet_models(samples_dir, tmp_path_factory):
    """CCNet's release format (built by the test, not by the project's trainer), fetched over loopback HTTP."""
    release = ccnet_format_models(str(samples_dir), str(tmp_path_factory.getbasetemp() / "ccnet_release"))
    with serve(release) as (url, hits):
        folder, _, _ = kenlm_model.fetch_ccnet_models(url, ["en"], tmp_path_factory.mktemp("ccnet") / "models")
    assert len(hits) == 2
    return ppl.PerplexityScorer(folder)


@pytest.fixture(scope="session")
def texts(samples_dir):
    """Held-out Wikipedia paragraphs, the C4 pages and all real pages of the evaluation half, boilerplate."""
    evaluation = web_pages.real_english_pages(samples_dir, "evaluation")
    return SimpleNamespace(wiki=web_pages.heldout_wikipedia_paragraphs(samples_dir),
                           c4=[p["text"] for p in evaluation if p["source"] == "c4"],
                           web=[p["text"] for p in evaluation],
                           boilerplate=[t for _, t in web_pages.boilerplate_pages(samples_dir)])


def auc(low, high) -> float:
    """P(a score of ``low`` < a score of ``high``), ties counted half."""
    a, b = np.asarray(low)[:, None], np.asarray(high)[None, :]
    return float(np.mean(a < b) + 0.5 * np.mean(a == b))


def test_normalisation_is_ccnets():
    assert ppl.normalize_line("  Café １２３ — «Hi»！\t") == 'cafe 000  -  "hi"!'
    assert ppl.normalize_line("Ünïcödé  Straße 1999") == "unicode  straße 0000"
    assert ppl.normalize_line("x\x00y\x9fz") == "xyz"
    assert ppl.normalized_lines("A\n\n  \nB2") == ["a", "b0"]


def ccnet_normalize(line: str) -> str:
    """cc_net/text_normalizer.py ``normalize`` step by step (the oracle of the one-table version)."""
    line = line.strip().lower()
    line = "".join(c for c in unicodedata.normalize("NFD", line) if unicodedata.category(c) != "Mn")
    line = re.sub(r"\d", "0", line).translate(str.maketrans(ppl.UNICODE_PUNCT))
    return re.sub("[\x00-\x1f\x7f-\x9f]", "", line)


def real_lines(samples_dir: Path) -> list[str]:
    """Raw lines of the real Wikipedia (en, de, fr, ...) and CommonCrawl samples."""
    docs = [d for source in ("wikipedia", "commoncrawl") for ds in sample_docs(source, str(samples_dir)).values() for d in ds]
    return [line for d in docs for line in d["text"].split("\n")]


def test_one_table_normalisation_equals_ccnets_chain_on_real_text(samples_dir):
    lines = real_lines(samples_dir)
    assert len(lines) > 10_000 and any(not line.isascii() for line in lines)
    assert [ppl.normalize_line(line) for line in lines] == [ccnet_normalize(line) for line in lines]


def ccnet_doc_perplexity(lm: ppl.LanguageModel, text: str) -> float:
    """cc_net's mine.py, step by step: ``MultiSentencePiece(normalize=True)`` on the raw content, then
    ``DocLM(normalize=False)``: split on "\\n", ``model.score(line)``, ``len(line.split()) + 1``, round 1."""
    tokenized = " ".join(lm.sp.encode_as_pieces(ccnet_normalize(text)))
    log_score, length = 0.0, 0
    for line in tokenized.split("\n"):
        log_score += lm.lm.score(line)
        length += len(line.split()) + 1
    return round(10.0 ** (-log_score / length), 1)


def test_documents_are_scored_exactly_as_cc_net_scores_them(models, ccnet_models, texts):
    pages = texts.web[:40] + texts.boilerplate[:5]
    for lm in (models[0].models["en"], ccnet_models.models["en"]):
        assert lm.perplexities(pages).tolist() == [ccnet_doc_perplexity(lm, t) for t in pages]
        # the normalisation drops newlines (non-printing), so a document is one line: its lines are glued
        assert lm.perplexities(["the city\nis large"])[0] == lm.perplexities(["the cityis large"])[0]
        assert np.isinf(lm.perplexities(["\n\x00 \n"])[0])  # nothing left to score: tail
    assert np.isnan(models[0].score(["some text"], ["xx"])[0])  # no model for the language


@pytest.mark.parametrize("which", ["trained", "ccnet_release"])
def test_ranks_heldout_wikipedia_below_c4_pages_below_boilerplate(which, models, ccnet_models, texts):
    """Pairwise AUCs on real text (the evaluation half only), lower bounds pinned under the values measured
    when written: trained 0.944 / 1.000 / 0.858, CCNet-format 0.947 / 1.000 / 0.894."""
    lm = (models[0] if which == "trained" else ccnet_models).models["en"]
    wiki, c4, web, boiler = (lm.perplexities(t) for t in (texts.wiki, texts.c4, texts.web, texts.boilerplate))
    assert len(wiki) == 611 and len(c4) == 15 and len(web) == 143 and len(boiler) == 30
    assert np.median(wiki) < np.median(c4) < np.median(web) < np.median(boiler)
    assert auc(wiki, c4) > 0.9
    assert auc(c4, boiler) > 0.95
    assert auc(web, boiler) > 0.8


def kept_share(scorer: ppl.PerplexityScorer, scores: np.ndarray, size: int, mode: str = "auto") -> tuple[float, set]:
    """The share of documents the stage keeps when the pages come in runs of ``size`` documents (each run
    pooled alone, as a snapshot of that size would be), and the cut-off origins used."""
    kept, origins = 0, set()
    for start in range(0, len(scores), size):
        chunk = scores[start:start + size]
        sample = ppl.ScoreSample(recipe.PERPLEXITY_SAMPLE_DOCS)
        sample.add(pa.table({"id": [f"d{start + i}" for i in range(len(chunk))], "lang": ["en"] * len(chunk),
                             "perplexity": chunk}, schema=ppl.SCORES_SCHEMA))
        cut = ppl.choose_cutoffs(sample, scorer, mode, recipe.PERPLEXITY_PERCENTILES,
                                 recipe.PERPLEXITY_MIN_DOCS_FOR_PERCENTILES, recipe.CCNET_PERPLEXITY_CUTOFFS,
                                 recipe.PERPLEXITY_WIKI_REFERENCE_PERCENTILES)["en"]
        origins.add(cut.origin)
        buckets = ppl.assign_buckets(chunk, ["en"] * len(chunk), {"en": cut.pair})
        kept += sum(b in recipe.PERPLEXITY_KEEP_BUCKETS for b in buckets)
    return kept / len(scores), origins


@pytest.fixture(scope="session")
def evaluation_pages(samples_dir, models):
    """3,000 English pages of the evaluation half (143 real, the rest composites of their lines) and
    their scores by the trained English model."""
    pages = web_pages.english_pages(samples_dir, 3000, split="evaluation")
    return pages, models[0].models["en"].perplexities(pages)


@pytest.mark.parametrize("size, origin, low, high", [
    (1, ppl.WEB_REFERENCE, 0.6, 0.85),     # the model's web reference cut-offs: 0.758 when written
    (30, ppl.WEB_REFERENCE, 0.6, 0.85),    # 0.758
    (3000, ppl.SNAPSHOT_PERCENTILES, 0.599, 0.601),  # the snapshot's own 30th/60th percentiles: 0.600
])
def test_keeps_a_sensible_share_of_real_english_pages_at_any_input_size(size, origin, low, high, models,
                                                                         evaluation_pages):
    scores = evaluation_pages[1]
    share, origins = kept_share(models[0], scores, size)
    assert origins == {origin}
    assert low <= share <= high, share
    real_share, _ = kept_share(models[0], scores[:143], 1)  # the 143 distinct real pages alone
    assert 0.5 <= real_share <= 0.8, real_share  # 0.662 when written


def test_wikipedia_reference_percentiles_are_where_the_web_reference_cutoffs_fall(models):
    """recipe.PERPLEXITY_WIKI_REFERENCE_PERCENTILES (the fallback of a language with no web reference) is
    measured on English, which has both references: its web 30th/60th percentiles sit at the Wikipedia
    reference's 94.2th/95.1th when written."""
    cal = models[1]["languages"]["en"]["calibration"]
    wiki = np.asarray(cal["wikipedia"])
    at = [100 * np.mean(wiki < c) for c in np.percentile(cal["web"], recipe.PERPLEXITY_PERCENTILES)]
    assert np.allclose(at, recipe.PERPLEXITY_WIKI_REFERENCE_PERCENTILES, atol=2.0), at


def test_drops_every_boilerplate_page_alone_and_among_3000_real_pages(models, texts, evaluation_pages):
    scorer, lm = models[0], models[0].models["en"]
    boiler = lm.perplexities(texts.boilerplate)
    assert kept_share(scorer, boiler, 1)[0] == 0.0  # each page alone: the model's web reference cut-offs
    mixed = np.concatenate([evaluation_pages[1], boiler])
    sample = ppl.ScoreSample(recipe.PERPLEXITY_SAMPLE_DOCS)
    sample.add(pa.table({"id": [f"d{i}" for i in range(len(mixed))], "lang": ["en"] * len(mixed), "perplexity": mixed},
                        schema=ppl.SCORES_SCHEMA))
    cut = ppl.choose_cutoffs(sample, scorer, "auto", recipe.PERPLEXITY_PERCENTILES, 100, {}, (90.0, 99.0))["en"]
    assert cut.origin == ppl.SNAPSHOT_PERCENTILES and cut.docs == 3030
    assert set(ppl.assign_buckets(boiler, ["en"] * len(boiler), {"en": cut.pair})) == {"tail"}


def test_ccnet_release_uses_the_published_cutoffs_and_trained_models_never_do(models, ccnet_models):
    sample = ppl.ScoreSample(10)
    sample.add(pa.table({"id": ["a"], "lang": ["en"], "perplexity": [300.0]}, schema=ppl.SCORES_SCHEMA))
    args = (recipe.PERPLEXITY_PERCENTILES, 100, recipe.CCNET_PERPLEXITY_CUTOFFS, recipe.PERPLEXITY_WIKI_REFERENCE_PERCENTILES)
    cut = ppl.choose_cutoffs(sample, ccnet_models, "auto", *args)["en"]
    assert (cut.pair, cut.origin, cut.docs) == (recipe.CCNET_PERPLEXITY_CUTOFFS["en"], ppl.CCNET_PUBLISHED, 0)
    assert ppl.choose_cutoffs(sample, models[0], "auto", *args)["en"].origin == ppl.WEB_REFERENCE
    with pytest.raises(ValueError, match="belong to CCNet's released models"):
        ppl.choose_cutoffs(sample, models[0], "ccnet", *args)
    # a released model with neither published values nor enough documents has no cut-offs (bucket null)
    sample.add(pa.table({"id": ["b"], "lang": ["sw"], "perplexity": [300.0]}, schema=ppl.SCORES_SCHEMA))
    assert set(ppl.choose_cutoffs(sample, ccnet_models, "percentile", *args)) == set()


def test_german_wikipedia_scores_lower_than_navigation_lines_of_a_real_cc_page(models, samples_dir):
    """German: held-out dewiki paragraphs vs the short navigation/boilerplate lines of the real
    German (.ch) pages of the CommonCrawl WARC sample, both scored by the German model."""
    scorer, manifest = models
    assert "de" in manifest["languages"], "the dewiki sample must give a German model (reader sets lang=de)"
    wiki = web_pages.heldout_wikipedia_paragraphs(samples_dir, "de", min_words=5)
    pages = [d for docs in sample_docs("commoncrawl", str(samples_dir)).values() for d in docs
             if (d["url"] or "").split("/")[2].endswith(".ch")]
    nav = [line for d in pages for line in d["text"].split("\n") if 1 <= len(line.split()) <= 4]
    assert len(wiki) >= 10 and len(nav) >= 20
    assert np.median(scorer.models["de"].perplexities(wiki)) < np.median(scorer.models["de"].perplexities(nav))


def fake_scorer(kind: str, calibration: dict) -> SimpleNamespace:
    return SimpleNamespace(kind=kind, version="v", calibration=calibration)


def scores_table(values, lang="en", prefix="d") -> pa.Table:
    return pa.table({"id": [f"{prefix}{i}" for i in range(len(values))], "lang": [lang] * len(values),
                     "perplexity": [float(v) for v in values]}, schema=ppl.SCORES_SCHEMA)


def test_cutoff_origins():
    values = list(range(100, 1200, 100))  # 11 documents
    sample = ppl.ScoreSample(1000)
    sample.add(scores_table(values))
    sample.add(scores_table([float("nan")], "zz", "z"))  # no model: not pooled
    ref = {"en": {"web": [100.0, 200.0, 300.0, 400.0, 500.0], "wikipedia": [10.0] * 5},
           "de": {"web": [], "wikipedia": list(map(float, range(1, 101)))}}
    published, args = recipe.CCNET_PERPLEXITY_CUTOFFS, (recipe.PERPLEXITY_PERCENTILES,)
    assert sample.languages == ["en"] and sample.counts == {"en": 11}
    pooled = ppl.choose_cutoffs(sample, fake_scorer("trained", ref), "auto", *args, 11, published, (90.0, 99.0))["en"]
    assert (pooled.pair, pooled.origin, pooled.docs) == ((400.0, 700.0), ppl.SNAPSHOT_PERCENTILES, 11)  # linear
    small = ppl.choose_cutoffs(sample, fake_scorer("trained", ref), "auto", *args, 100, published, (90.0, 99.0))["en"]
    assert (small.pair, small.origin, small.docs) == ((220.0, 340.0), ppl.WEB_REFERENCE, 5)
    sample.add(scores_table([50.0], "de"))
    wiki = ppl.choose_cutoffs(sample, fake_scorer("trained", ref), "auto", *args, 100, published, (90.0, 99.0))["de"]
    assert (wiki.pair, wiki.origin, wiki.docs) == ((pytest.approx(90.1), pytest.approx(99.01)), ppl.WIKIPEDIA_REFERENCE, 100)
    forced = ppl.choose_cutoffs(sample, fake_scorer("ccnet", {}), "percentile", *args, 11, published, (90.0, 99.0))
    assert forced["en"].origin == ppl.SNAPSHOT_PERCENTILES and "de" not in forced
    with pytest.raises(ValueError, match="'auto', 'percentile' or 'ccnet'"):
        ppl.choose_cutoffs(sample, fake_scorer("ccnet", {}), "median", *args, 11, published, (90.0, 99.0))


def test_score_sample_is_bounded_deterministic_and_exact_below_capacity():
    rng = np.random.default_rng(0)
    values = rng.lognormal(6, 1, 20_000)
    table = scores_table(values)
    whole, forward, backward = ppl.ScoreSample(50_000), ppl.ScoreSample(1000), ppl.ScoreSample(1000)
    whole.add(table)
    assert np.array_equal(whole.values("en"), np.sort(values))  # exact below capacity
    for start in range(0, 20_000, 3000):
        forward.add(table.slice(start, 3000))
    for start in reversed(range(0, 20_000, 3000)):
        backward.add(table.slice(start, 3000))
    assert forward.values("en").size == 1000 and forward.counts["en"] == 20_000
    assert np.array_equal(forward.values("en"), backward.values("en"))  # order-free
    assert abs(np.percentile(forward.values("en"), 60) / np.percentile(values, 60) - 1) < 0.1
    inf = ppl.ScoreSample(10)
    inf.add(scores_table([float("inf"), 5.0]))
    assert inf.counts["en"] == 2 and inf.values("en").tolist() == [5.0]  # counted, kept out of percentiles


def test_cutoff_table_is_persisted_per_snapshot_and_final_cutoffs_are_reused(tmp_path):
    settings = {"cutoffs": "auto"}
    first = {"en": ppl.LanguageCutoffs(400.0, 700.0, ppl.SNAPSHOT_PERCENTILES, 500),
             "de": ppl.LanguageCutoffs(50.0, 90.0, ppl.WEB_REFERENCE, 20)}
    table = ppl.CutoffTable.resolve(tmp_path, "CC-MAIN-2024-10", "model-v1", settings, first)
    assert table.path.parent == tmp_path / "CC-MAIN-2024-10" and table.reused == [] and table.languages == first
    later = {"en": ppl.LanguageCutoffs(450.0, 750.0, ppl.SNAPSHOT_PERCENTILES, 9),
             "de": ppl.LanguageCutoffs(60.0, 95.0, ppl.SNAPSHOT_PERCENTILES, 300)}
    again = ppl.CutoffTable.resolve(tmp_path, "CC-MAIN-2024-10", "model-v1", settings, later)
    assert again.path == table.path and again.reused == ["en"]
    assert again.languages == {"en": first["en"], "de": later["de"]}  # a reference is replaced by percentiles
    other = ppl.CutoffTable.resolve(tmp_path, "CC-MAIN-2024-18", "model-v1", settings, later)
    assert other.reused == [] and other.path != table.path
    assert ppl.CutoffTable.resolve(tmp_path, "CC-MAIN-2024-10", "model-v2", settings, later).reused == []


def _batch(ids, langs):
    docs = [new_document("commoncrawl", i, "x", lang=lang) for i, lang in zip(ids, langs)]
    return pa.RecordBatch.from_pylist(docs, schema=DOCUMENT_SCHEMA)


def test_buckets_and_drop_reasons():
    cut = {"en": (400.0, 700.0)}
    batch = _batch([f"d{i}" for i in range(11)] + ["?"], ["en"] * 11 + ["zz"])
    scores = pa.table({"id": batch.column("id"), "lang": ["en"] * 11 + ["zz"],
                       "perplexity": [float(x) for x in range(100, 1200, 100)] + [float("nan")]}, schema=ppl.SCORES_SCHEMA)
    kept, dropped = ppl.BucketFilter(scores, cut, recipe.PERPLEXITY_KEEP_BUCKETS, False, "commoncrawl")(batch)
    assert kept.column("bucket").to_pylist() == ["head"] * 3 + ["middle"] * 3 + [None]
    assert kept.column("perplexity").to_pylist()[:2] == [100.0, 200.0] and kept.column("perplexity")[-1].as_py() is None
    assert dropped.column("reason").to_pylist() == [ppl.DROP_TAIL] * 5
    assert dropped.column("detail")[0].as_py() == "lang=en perplexity=700.0"
    _, dropped2 = ppl.BucketFilter(scores, cut, recipe.PERPLEXITY_KEEP_BUCKETS, True, "commoncrawl")(batch)
    assert dropped2.column("reason").to_pylist() == [ppl.DROP_TAIL] * 5 + [ppl.NO_MODEL]


def test_bucket_filter_counts_documents_per_snapshot_language_and_bucket():
    """What the stage's bucket table and no_lm_for_lang come from: the filter's counters, kept or dropped."""
    cut = {"en": (400.0, 700.0)}
    batch = _batch([f"d{i}" for i in range(11)] + ["?"], ["en"] * 11 + ["zz"])
    scores = pa.table({"id": batch.column("id"), "lang": ["en"] * 11 + ["zz"],
                       "perplexity": [float(x) for x in range(100, 1200, 100)] + [float("nan")]}, schema=ppl.SCORES_SCHEMA)
    outcome = ppl.BucketFilter(scores, cut, recipe.PERPLEXITY_KEEP_BUCKETS, False, "commoncrawl",
                               snapshot="CC-MAIN-2024-10").apply(batch)
    assert dict(outcome.counters) == {"bucket:CC-MAIN-2024-10/en/head": 3, "bucket:CC-MAIN-2024-10/en/middle": 3,
                                      "bucket:CC-MAIN-2024-10/en/tail": 5, ppl.NO_MODEL: 1}
    assert ppl.bucket_counter("CC-MAIN-2024-10", "en", "tail") == "bucket:CC-MAIN-2024-10/en/tail"
