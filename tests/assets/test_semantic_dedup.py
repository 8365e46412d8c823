"""The semantic-dedup stage (SemDeDup) on real Wikipedia articles and WordNet paraphrases of them.

The corpus: the 106 English Wikipedia articles of the samples as Common Crawl pages, plus paraphrases of the
first 40 articles of over 2,000 characters (tests/paraphrases.py), which the project's MinHash at 0.8 misses
(tests/corpus/dedup/test_semantic.py). SemDeDup at eps 0.01 must remove one of each pair and nothing else,
while the seven Angola articles (one topic, seven articles) and other articles on shared subjects all stay.
Precision and recall are printed (run with -s).
"""
from __future__ import annotations

import dagster as dg
import numpy as np
import pyarrow.parquet as pq
import pytest

from assets import semantic_dedup as semantic_assets
from assets.resources import CorpusStorage
from corpus import recipe
from corpus.dedup import semantic
from corpus.storage import Layout, read_table
from quality_models import semantic_embeddings, store
from quality_models.semantic_embeddings_assets import semantic_embedding_model
from tests.corpus.dedup.samples import docs_for, write_part
from tests.paraphrases import PAIRS, paraphrased_articles, wikipedia_articles

STAGE_ASSETS = [semantic_embedding_model, semantic_assets.semantic_duplicates, semantic_assets.semantic_dedup]


@pytest.fixture(scope="module")
def articles(samples_dir) -> tuple[list[str], list[str]]:
    return wikipedia_articles(samples_dir)


@pytest.fixture(scope="module")
def llama3_run(tmp_path_factory, articles):
    """The three semantic-dedup assets under llama3 over near_dedup parts: the articles and their paraphrases."""
    titles, texts = articles
    paraphrased = paraphrased_articles(texts)
    layout = Layout(tmp_path_factory.mktemp("semdedup") / "data")
    originals = docs_for("commoncrawl", "articles", texts)
    paraphrases = docs_for("commoncrawl", "paraphrases", [p for _, p in paraphrased])
    write_part(layout, "near_dedup", "commoncrawl", "articles", originals)
    write_part(layout, "near_dedup", "commoncrawl", "paraphrases", paraphrases)
    names = {d["id"]: titles[k] for k, d in enumerate(originals)}
    names.update({d["id"]: "paraphrase of " + titles[i] for d, (i, _) in zip(paraphrases, paraphrased)})
    pairs = {frozenset((originals[i]["id"], p["id"])) for p, (i, _) in zip(paraphrases, paraphrased)}
    result = dg.materialize(STAGE_ASSETS, resources={"corpus_storage": CorpusStorage(data_root=str(layout.root),
                                                                                      recipe="llama3")})
    return layout, result, names, pairs


def _parts(layout: Layout) -> list[semantic.EmbeddedPart]:
    rank = recipe.DEDUP_SOURCE_PRIORITY.index("commoncrawl")
    folder = semantic_assets.semantic_dedup_dir(layout) / "embeddings" / "commoncrawl"
    return [semantic.EmbeddedPart("commoncrawl", rank, p) for p in sorted(folder.glob("*.parquet"))]


def _precision_recall(removals, pairs) -> tuple[int, int, float, float]:
    rows = removals.to_pylist()
    hits = sum(frozenset((r["id"], r["kept_id"])) in pairs for r in rows)
    return len(rows), hits, hits / max(1, len(rows)), hits / len(pairs)


@pytest.mark.slow
def test_semdedup_removes_paraphrases_and_keeps_distinct_articles_on_one_topic(llama3_run):
    layout, result, names, pairs = llama3_run
    assert result.success
    removals = pq.read_table(semantic_assets.semantic_dedup_dir(layout) / "removals.parquet")
    removed, hits, precision, recall = _precision_recall(removals, pairs)
    print(f"SemDeDup eps {recipe.SEMDEDUP_EPS}: {removed} removed, {hits} of {len(pairs)} paraphrase pairs; "
          f"precision {precision:.3f}, recall {recall:.3f}")
    assert (removed, hits) == (PAIRS, PAIRS)  # measured: precision 1.0, recall 1.0
    # an article is kept as itself or as its paraphrase (the one of the pair farther from the centroid)
    kept_titles = [names[d].removeprefix("paraphrase of ") for part in layout.docs_parts("semantic_dedup", "commoncrawl")
                   for d in read_table(part, columns=["id"]).column("id").to_pylist()]
    assert sorted(kept_titles) == sorted(set(kept_titles)) and len(kept_titles) == len(set(names.values())) - PAIRS
    angola = {t for t in names.values() if "Angola" in t and not t.startswith("paraphrase")}
    assert len(angola) == 7 and angola <= set(kept_titles)  # seven articles of one topic, all kept
    assert {"Apollo_11", "Apollo_8", "Albania", "Algeria", "Azerbaijan", "Alabama", "Alaska"} <= set(kept_titles)
    dropped = [d for part in layout.parts("dropped", "semantic_dedup", "commoncrawl") for d in read_table(part).to_pylist()]
    assert len(dropped) == PAIRS
    assert all((d["reason"], d["detail"]) == ("semantic_duplicate", k) for d, k in zip(
        sorted(dropped, key=lambda d: d["id"]), removals.column("kept_id").to_pylist()))
    md = result.asset_materializations_for_node("semantic_duplicates")[0].metadata
    assert md["semantic_duplicates"].value == PAIRS and md["clusters"].value == 3 and md["docs"].value == 146
    assert "similarity_histogram" in md and "| 0.01 | 0.9900 |" in md["docs_with_a_neighbour_within_eps"].value


@pytest.mark.slow
def test_a_larger_eps_trades_precision_for_recall_and_reruns_are_identical(llama3_run, tmp_path):
    layout, _, names, pairs = llama3_run
    parts = _parts(layout)
    first = semantic.find_duplicates(parts, semantic.SemDedupParams(), tmp_path / "a")
    again = semantic.find_duplicates(parts, semantic.SemDedupParams(), tmp_path / "b")
    assert first.removals.equals(again.removals)
    for eps, expected in ((0.005, (32, 32)), (0.03, (41, 39))):
        r = semantic.find_duplicates(parts, semantic.SemDedupParams(eps=eps), tmp_path / f"eps{eps}")
        removed, hits, precision, recall = _precision_recall(r.removals, pairs)
        wrong = sorted((names[x["id"]], names[x["kept_id"]]) for x in r.removals.to_pylist()
                       if frozenset((x["id"], x["kept_id"])) not in pairs)
        print(f"eps {eps}: {removed} removed, precision {precision:.3f}, recall {recall:.3f}, wrong: {wrong}")
        assert (removed, hits) == expected
    # at eps 0.03 the closest distinct articles (Albania and Algeria, cosine ~0.984) merge
    assert wrong == [("Algeria", "Albania"), ("paraphrase of Algeria", "Albania")]


@pytest.mark.slow
def test_word_order_does_not_change_an_embedding(llama3_run, articles):
    layout, _, _, _ = llama3_run
    embedder = semantic_embeddings.DocumentEmbedder(store.current_dir(layout.models, semantic_embeddings.NAME))
    _, texts = articles
    shuffled = " ".join(reversed(texts[0].split()))
    e = embedder.embed([texts[0], shuffled, "", texts[1]])
    assert e[0] @ e[1] > 0.9999 and not e[2].any() and e[0] @ e[3] < 0.99
    np.testing.assert_allclose(np.linalg.norm(e[[0, 1, 3]], axis=1), 1.0, atol=1e-5)


def test_under_llama1_the_stages_are_skipped_and_write_nothing(tmp_path, articles):
    _, texts = articles
    layout = Layout(tmp_path / "data")
    write_part(layout, "near_dedup", "commoncrawl", "articles", docs_for("commoncrawl", "articles", texts[:5]))
    result = dg.materialize(STAGE_ASSETS, resources={"corpus_storage": CorpusStorage(data_root=str(layout.root))})
    for asset in ("semantic_embedding_model", "semantic_duplicates", "semantic_dedup"):
        assert result.asset_materializations_for_node(asset)[0].metadata["skipped"].value == "recipe llama1"
    assert not (layout.models / semantic_embeddings.NAME).exists()
    assert layout.docs_parts("semantic_dedup", "commoncrawl") == []
