import numpy as np
import pytest
from datasketch import MinHashLSH

from corpus.dedup import minhash
from tests.corpus.dedup.samples import book_chunks, edit_words

PARAMS = minhash.MinHashParams.for_threshold(0.8)


@pytest.fixture(scope="module")
def chunks(samples_dir):
    return book_chunks(samples_dir, limit=60)


def test_bands_and_rows_are_datasketchs_choice():
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    assert (PARAMS.bands, PARAMS.rows) == (lsh.b, lsh.r) == (9, 13)
    p9 = minhash.MinHashParams.for_threshold(0.9)
    assert (p9.bands, p9.rows) == (5, 25)


def test_estimate_tracks_exact_jaccard_on_edited_real_text(chunks):
    errors = []
    for i, text in enumerate(chunks):
        copy = edit_words(text, fraction=0.005 + 0.0015 * (i % 40), seed=i)
        sig, _ = minhash.signatures([text, copy], PARAMS)
        exact = minhash.jaccard(minhash.shingle_set(text, 5), minhash.shingle_set(copy, 5))
        assert 0.3 < exact < 1.0
        errors.append(minhash.estimated_jaccard(sig[0], sig[1]) - exact)
    errors = np.array(errors)
    # unbiased, and spread no wider than a binomial estimate with 128 draws (max sd 0.044)
    assert abs(errors.mean()) < 0.02
    assert errors.std() < 0.05


def test_batch_equals_one_by_one_and_chunking_does_not_matter(chunks):
    texts = chunks[:20] + ["", "two words", "Exactly five words are here."]
    batch, counts = minhash.signatures(texts, PARAMS)
    single = np.vstack([minhash.signatures([t], PARAMS)[0] for t in texts])
    np.testing.assert_array_equal(batch, single)
    hashes, counts2 = minhash.shingle_hashes(texts, 5)
    small = minhash.signatures_from_shingles(hashes, counts2, 128, chunk=7)
    np.testing.assert_array_equal(batch, small)
    assert counts[-3:].tolist() == [0, 1, 1]


def test_short_text_is_one_shingle_and_empty_text_none():
    h, counts = minhash.shingle_hashes(["Hello, World!", "hello world", "world hello", "", "  ...  "], 5)
    assert counts.tolist() == [1, 1, 1, 0, 0]
    assert h[0] == h[1] != h[2]  # normalised alike; word order matters
    sig, _ = minhash.signatures(["", "a b c d e f"], PARAMS)
    assert (sig[0] == minhash.EMPTY).all() and not (sig[1] == minhash.EMPTY).all()


def test_normalisation_makes_layout_and_case_invisible(chunks):
    text = chunks[0]
    variant = "  " + text.upper().replace(" ", " \n ").replace(",", " ; ")
    a, b = minhash.signatures([text, variant], PARAMS)[0]
    np.testing.assert_array_equal(a, b)


def test_unrelated_real_texts_estimate_low(chunks):
    sig, _ = minhash.signatures(chunks[:30], PARAMS)
    est = [minhash.estimated_jaccard(sig[i], sig[j]) for i in range(30) for j in range(i + 1, 30)]
    assert max(est) < 0.2
