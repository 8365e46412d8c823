"""SemDeDup's pure steps: components within a cluster, the cluster count; the paraphrases MinHash misses.

The paraphrases (tests/paraphrases.py) are of real Wikipedia articles of the samples: sentence order shuffled,
30% of the words that have a WordNet synonym replaced by it. tests/assets/test_semantic_dedup.py runs the
whole stage on them.
"""
from __future__ import annotations

import numpy as np
import pytest

from corpus import recipe
from corpus.dedup import lsh, minhash, semantic
from tests.paraphrases import PAIRS, paraphrased_articles, wikipedia_articles


@pytest.fixture(scope="module")
def articles(samples_dir) -> tuple[list[str], list[str]]:
    return wikipedia_articles(samples_dir)


@pytest.fixture(scope="module")
def paraphrased(articles) -> list[tuple[int, str]]:
    return paraphrased_articles(articles[1])


def test_cluster_duplicates_keeps_the_first_of_each_component_in_keep_order():
    # a chain A ~ B ~ C (A and C apart), and D alone: one component, A (first) kept for both B and C
    angle = np.arccos(0.995)
    x = np.array([[1, 0, 0], [np.cos(angle), np.sin(angle), 0], [np.cos(2 * angle), np.sin(2 * angle), 0], [0, 0, 1]],
                 np.float32)
    assert x[0] @ x[2] < 0.99
    removed, kept, nn = semantic.cluster_duplicates(x, eps=0.01, block=2)
    assert removed.tolist() == [1, 2] and kept.tolist() == [0, 0]
    np.testing.assert_allclose(nn, [0.995, 0.995, 0.995, 0.0], atol=1e-6)
    assert semantic.cluster_duplicates(x, eps=0.001, block=3)[0].tolist() == []
    assert semantic.cluster_duplicates(x[:1], eps=0.01, block=8)[2].tolist() == [-1.0]  # a cluster of one


def test_cluster_count_is_capped_by_the_documents_per_cluster():
    p = semantic.SemDedupParams()
    assert semantic.cluster_count(146, p) == 3 and semantic.cluster_count(10, p) == 1
    assert semantic.cluster_count(10_000_000, p) == recipe.SEMDEDUP_CLUSTERS


def test_minhash_at_0_8_misses_every_paraphrase(articles, paraphrased):
    _, texts = articles
    params = minhash.MinHashParams.for_threshold(0.8)
    jaccards = []
    for i, para in paraphrased:
        jaccards.append(minhash.jaccard(minhash.shingle_set(texts[i], 5), minhash.shingle_set(para, 5)))
        sig, _ = minhash.signatures([texts[i], para], params)
        keys = lsh.band_keys(sig, params.bands, params.rows)
        assert not (keys[0] == keys[1]).any()  # not one of the 9 bands collides: LSH never proposes the pair
    print(f"exact 5-gram Jaccard of original vs paraphrase: max {max(jaccards):.3f}, median {np.median(jaccards):.3f}")
    assert len(jaccards) == PAIRS and max(jaccards) < 0.5
