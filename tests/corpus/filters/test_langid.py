"""The CCNet language filter with the real lid.176 model on real sentences."""
import pyarrow as pa
import pytest

from corpus import plots
from corpus.filters import langid as langid_filter
from corpus.schema import documents_to_batch, new_document
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


def test_language_summary_table_and_plot_from_written_parts(samples_dir, identifier, tmp_path):
    import pyarrow.parquet as pq

    docs = [_doc(samples_dir, lang, i) for lang in ("en", "ru", "es") for i in range(3)]
    kept, drops = langid_filter.LangIdFilter(identifier, "commoncrawl")(documents_to_batch(docs))
    pq.write_table(pa.Table.from_batches([kept]), tmp_path / "docs.parquet")
    pq.write_table(drops, tmp_path / "dropped.parquet")
    summary, hist = langid_filter.language_summary([tmp_path / "docs.parquet"], [tmp_path / "dropped.parquet"])
    rows = {r["lang"]: (r["docs"], r["kept"]) for r in summary.to_pylist()}
    assert rows == {"en": (3, 3), "ru": (3, 0), "es": (3, 0)}
    assert hist.sum() == 9
    md = langid_filter.markdown_table(summary)
    assert "| ru | 3 | 0 |" in md
    assert "| 0.9-1.0 |" in plots.histogram_table(hist, langid_filter.SCORE_BINS)
