"""A filter's counters and histograms travel with its part: summed in PartStats, kept in the funnel file's
footer, and read back for a skipped part exactly as the build reported them."""
import pyarrow.parquet as pq
import pytest

from corpus.filters import langid
from corpus.part_runners import filter_part
from corpus.schema import documents_to_batch, new_document
from corpus.storage import PART_COUNTS_KEY, Layout, PartStats, PartWriter, read_part_stats
from quality_models.language_identifier import LanguageIdentifier


def test_merge_sums_counters_and_histograms_bin_by_bin():
    a = PartStats("c4", "s", counters={"x": 2}, histograms={"h": [1, 0, 2]})
    a.merge(PartStats("c4", "s", counters={"x": 1, "y": 4}, histograms={"h": [0, 5, 1], "g": [3]}))
    assert a.counters == {"x": 3, "y": 4} and a.histograms == {"h": [1, 5, 3], "g": [3]}
    with pytest.raises(ValueError, match="histogram 'h': 2 bins, 3 before"):
        a.tally({}, {"h": [1, 1]})


def test_a_skipped_part_reports_the_counters_of_its_build(tmp_path, samples_dir):
    lines = {lang: (samples_dir / "langid" / "lingua-sentences" / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
             for lang in ("en", "de", "ru")}
    docs = [new_document("commoncrawl", f"{lang}:{i}", "\n".join(lines[lang][4 * i:4 * i + 4]))
            for lang in lines for i in range(3)]
    layout = Layout(tmp_path)
    lid = langid.LangIdFilter(LanguageIdentifier(), "commoncrawl")
    with PartWriter(layout, langid.STAGE, "commoncrawl", "p0", "fp") as writer:
        filter_part(writer, [documents_to_batch(docs[:5]), documents_to_batch(docs[5:])], lid)
    built = writer.stats
    assert built.counters == {"docs:en": 3, "kept:en": 3, "docs:de": 3, "docs:ru": 3}
    assert sum(built.histograms[langid.SCORE_HISTOGRAM]) == 9
    skipped = read_part_stats(layout, langid.STAGE, "commoncrawl", "p0")
    assert (skipped.counters, skipped.histograms) == (built.counters, built.histograms)
    assert (skipped.docs_in, skipped.docs_out, skipped.drop_reasons) == (9, 3, {"lang=de": 3, "lang=ru": 3})
    # the funnel's rows are what they were; a stage whose filter counts nothing writes no footer key
    funnel = pq.read_table(layout.part("funnel", langid.STAGE, "commoncrawl", "p0"))
    assert funnel.column_names == ["source", "stage", "docs_in", "docs_out", "chars_in", "chars_out"]
    with PartWriter(layout, "plain", "commoncrawl", "p0", "fp") as plain:
        plain.count_in(1, 1)
    assert PART_COUNTS_KEY not in (pq.read_schema(layout.part("funnel", "plain", "commoncrawl", "p0")).metadata or {})
    assert read_part_stats(layout, "plain", "commoncrawl", "p0").counters == {}
