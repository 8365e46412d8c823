import unicodedata

import numpy as np
import pyarrow as pa
import pytest

from corpus.text import normalize_for_shingles, shingle_words


def reference(text: str) -> str:
    """The normalisation spelled out one character at a time (slow, obvious)."""
    chars = unicodedata.normalize("NFKC", text).lower()
    return " ".join("".join(c if unicodedata.category(c)[0] in "LMN" or c == "_" else " " for c in chars).split())


@pytest.fixture(scope="module")
def labelled(samples_dir):
    rows = (samples_dir / "langid" / "labelled.tsv").read_text(encoding="utf-8").split("\n")
    return [tuple(r.split("\t", 1)) for r in rows if "\t" in r]


def test_matches_the_character_by_character_reference_in_every_language(labelled):
    texts = [t for _, t in labelled]
    assert len({lang for lang, _ in labelled}) >= 40
    assert normalize_for_shingles(pa.array(texts)).to_pylist() == [reference(t) for t in texts]


def test_scripts_are_kept_and_punctuation_case_and_compatibility_forms_are_not(labelled):
    by_lang = {}
    for lang, text in labelled:
        by_lang.setdefault(lang, []).append(text)
    norm = {lang: normalize_for_shingles(texts).to_pylist() for lang, texts in by_lang.items()}
    joined = {lang: " ".join(v) for lang, v in norm.items()}
    assert any("\u0400" <= c <= "\u04ff" for c in joined["ru"]) and not any("А" <= c <= "Я" for c in joined["ru"])
    assert any("\u0370" <= c <= "\u03ff" for c in joined["el"]) and not any("Α" <= c <= "Ω" for c in joined["el"])
    assert any("\u4e00" <= c <= "\u9fff" for c in joined["zh"]) and "，" not in joined["zh"] and "。" not in joined["zh"]
    assert "\u094d" in joined["hi"]  # the virama (a mark) stays inside Devanagari words
    for text in joined.values():
        assert not set(text) & set(".,;:!?\"'()[]{}«»“”„—–\t\n")
        assert "  " not in text and text == text.lower()
    assert normalize_for_shingles(["ﬁne Ｗｉｄｅ ２３ Straße İ"]).to_pylist() == ["fine wide 23 straße i̇"]


def test_words_never_span_documents_and_empty_documents_have_none():
    texts = ["alpha beta", "", None, "gamma", " ... ", "δέλτα,epsilon"]
    w = shingle_words(pa.array(texts))
    assert w.per_doc.tolist() == [2, 0, 0, 1, 0, 2]
    words = [w.data[a:b].tobytes().decode() for a, b in zip(w.offsets[:-1], w.offsets[1:])]
    assert words == ["alpha", "beta", "gamma", "δέλτα", "epsilon"]
    assert normalize_for_shingles(texts).to_pylist() == ["alpha beta", "", "", "gamma", "", "δέλτα epsilon"]
    assert np.all(np.diff(w.offsets) > 0)
