"""The CCNet language filter with the real lid.176 model on real sentences."""
import numpy as np
import pytest

from corpus import plots
from corpus.filters import langid as langid_filter
from corpus.schema import documents_to_batch, new_document
from corpus.storage import PartStats
from quality_models.language_identifier import LanguageIdentifier


@pytest.fixture(scope="module")
def identifier():
    return LanguageIdentifier()


def _doc(samples_dir, lang, i, n=4):
    lines = (samples_dir / "langid" / "lingua-sentences" / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
    return new_document("commoncrawl", f"{lang}:{i}", "\n".join(lines[i * n:(i + 1) * n]))


def test_english_kept_with_lang_columns_and_others_dropped_with_their_label(samples_dir, identifier):
    docs = [_doc(samples_dir, lang, i) for lang in ("en", "de", "fr", "ja") for i in range(5)]
    kept, drops = langid_filter.LangIdFilter(identifier, "commoncrawl")(documents_to_batch(docs))
    assert kept.column("id").to_pylist() == [d["id"] for d in docs[:5]]
    assert set(kept.column("lang").to_pylist()) == {"en"}
    assert min(kept.column("lang_score").to_pylist()) >= 0.5
    reasons = dict(zip(drops.column("id").to_pylist(), drops.column("reason").to_pylist()))
    assert [reasons[d["id"]] for d in docs[5:10]] == ["lang=de"] * 5
    assert [reasons[d["id"]] for d in docs[10:15]] == ["lang=fr"] * 5
    assert [reasons[d["id"]] for d in docs[15:]] == ["lang=ja"] * 5
    assert all(detail.split(":")[0] in ("de", "fr", "ja") for detail in drops.column("detail").to_pylist())


def test_thresholds_per_language_and_kept_languages_are_configurable(samples_dir, identifier):
    docs = [_doc(samples_dir, "en", i, n=1) for i in range(40)] + [_doc(samples_dir, "de", i) for i in range(3)]
    batch = documents_to_batch(docs)
    strict = langid_filter.LangIdFilter(identifier, "commoncrawl", keep_languages=("en", "de"),
                                        min_score_per_language={"en": 0.95})
    kept, drops = strict(batch)
    labels, scores = identifier.predict([d["text"] for d in docs])
    unsure_en = {d["id"] for d, lab, s in zip(docs, labels, scores) if lab == "en" and s < 0.95}
    assert unsure_en, "some single English sentences score under 0.95"
    dropped = dict(zip(drops.column("id").to_pylist(), drops.column("reason").to_pylist()))
    assert {i for i, r in dropped.items() if r == "lang_score<0.95"} == unsure_en
    assert all(d["id"] in kept.column("id").to_pylist() for d in docs[-3:])  # de kept at the default 0.5
    assert set(kept.column("lang").to_pylist()) == {"en", "de"}


def test_newlines_are_spaces_for_the_model(samples_dir, identifier):
    doc = _doc(samples_dir, "sv", 0, n=6)
    labels, scores = identifier.predict([doc["text"], doc["text"].replace("\n", " ")])
    assert labels == ["sv", "sv"] and scores[0] == pytest.approx(scores[1])


def test_language_summary_table_and_histogram_from_the_filters_counts(samples_dir, identifier):
    """The filter counts every document per predicted language (kept or not) and bins its score; the
    stage's summary is built from those counts summed over parts, never from the written parts."""
    docs = [_doc(samples_dir, lang, i) for lang in ("en", "ru", "es") for i in range(3)]
    lid = langid_filter.LangIdFilter(identifier, "commoncrawl")
    stats = PartStats(source="commoncrawl", stage=langid_filter.STAGE)
    for half in (docs[:4], docs[4:]):  # two batches (parts) summed
        outcome = lid.apply(documents_to_batch(half))
        stats.tally(outcome.counters, outcome.histograms)
    assert stats.counters == {"docs:en": 3, "kept:en": 3, "docs:ru": 3, "docs:es": 3}
    summary, hist = langid_filter.language_summary(stats)
    assert summary.to_pylist() == [{"lang": "en", "docs": 3, "kept": 3}, {"lang": "es", "docs": 3, "kept": 0},
                                   {"lang": "ru", "docs": 3, "kept": 0}]
    _, scores = identifier.predict([d["text"] for d in docs])
    assert hist.tolist() == np.histogram(np.clip(scores, 0, 1), bins=langid_filter.SCORE_BINS)[0].tolist()
    assert hist.sum() == 9
    md = langid_filter.markdown_table(summary)
    assert "| ru | 3 | 0 |" in md
    assert "| 0.9-1.0 |" in plots.histogram_table(hist, langid_filter.SCORE_BINS)
