"""cc_line_dedup and cc_language_id materialized in-process on commoncrawl parts written from real
sentences (no WARC ingest): drop reasons in the parts, funnels that add up, metadata."""
import dagster as dg
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from assets.cc_language_id import cc_language_id
from assets.cc_line_dedup import cc_line_dedup
from assets.resources import CorpusStorage, RawInputs
from corpus.schema import new_document
from corpus.part_runners import ingest_part
from corpus.storage import Layout, PartWriter
from quality_models.langid_assets import langid_model
from quality_models.language_identifier import LABELLED_ENV, LABELLED_IN_RAW

LANGS = ("en", "de", "fr", "ru", "hr", "zh")


def _write_ingest(root, samples_dir):
    """Two parts of 12 docs each (two per language, 5 real sentences), a boilerplate line in 3 docs
    across both parts, and one doc made only of boilerplate."""
    sent = {lang: (samples_dir / "langid" / "lingua-sentences" / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
            for lang in LANGS}
    boiler = sent["en"][500]
    layout = Layout(root)
    docs = {}
    for p in range(2):
        records = []
        for k, lang in enumerate(LANGS):
            for j in range(2):
                i = p * 2 + j
                lines = sent[lang][5 * i:5 * i + 5]
                if (p, lang, j) in {(0, "en", 0), (0, "de", 1), (1, "en", 1)}:
                    lines = lines[:2] + [boiler] + lines[2:]
                records.append(new_document("commoncrawl", f"part{p}.warc:{k}:{j}", "\n".join(lines)))
        if p == 1:
            records.append(new_document("commoncrawl", "part1.warc:boiler", "\n".join([boiler, boiler.lower()])))
        with PartWriter(layout, "ingest", "commoncrawl", f"part{p}", f"fp{p}") as w:
            ingest_part(w, records)
        docs[p] = records
    return layout, docs, boiler


def _table(layout, tree, stage):
    return pq.read_table(layout.root / tree / stage / "commoncrawl")


# lid.176 alone: these tests do not train the refiners (the langid_model asset's own test does)
LID_ALONE = {"ops": {"cc_language_id": {"config": {"use_refiners": False}}}}


def _materialize(root, assets, run_config=None, raw_dir=None):
    result = dg.materialize(assets, resources={"corpus_storage": CorpusStorage(data_root=str(root)),
                                               "raw_inputs": RawInputs(raw_dir=str(raw_dir) if raw_dir else None)},
                            run_config=run_config or {}, raise_on_error=True)
    assert result.success
    return result


def test_line_dedup_then_langid_on_real_sentences(tmp_path, samples_dir):
    root = tmp_path / "data"
    layout, docs, boiler = _write_ingest(root, samples_dir)
    result = _materialize(root, [cc_line_dedup, cc_language_id], LID_ALONE)

    # line dedup: the boilerplate is gone from all three docs, the boilerplate-only doc is dropped
    dd = _table(layout, "docs", "line_dedup")
    assert dd.num_rows == 24
    assert not any(boiler in t for t in dd.column("text").to_pylist())
    dropped = _table(layout, "dropped", "line_dedup")
    assert dropped.column("reason").to_pylist() == ["line_dedup_empty"]
    assert dropped.column("id").to_pylist() == [docs[1][-1]["id"]]
    funnel = _table(layout, "funnel", "line_dedup")
    assert pc.sum(funnel.column("docs_in")).as_py() == 25 and pc.sum(funnel.column("docs_out")).as_py() == 24
    for part in ("part0", "part1"):
        f = pq.read_table(layout.part("funnel", "line_dedup", "commoncrawl", part)).to_pylist()[0]
        assert f["docs_out"] == pq.read_metadata(layout.part("docs", "line_dedup", "commoncrawl", part)).num_rows
        assert f["docs_in"] == f["docs_out"] + pq.read_metadata(layout.part("dropped", "line_dedup", "commoncrawl", part)).num_rows
    md = result.asset_materializations_for_node("cc_line_dedup")[0].metadata
    assert md["lines_in"].value == 24 * 5 + 3 + 2 and md["lines_out"].value == 120
    assert md["docs_emptied"].value == 1

    # language ID: only English stays, with its columns; every other language dropped under its label
    kept = _table(layout, "docs", "langid")
    assert set(kept.column("lang").to_pylist()) == {"en"} and kept.num_rows == 4
    assert min(kept.column("lang_score").to_pylist()) >= 0.5
    dropped = _table(layout, "dropped", "langid")
    reasons = dict(zip(dropped.column("id").to_pylist(), dropped.column("reason").to_pylist()))
    assert len(reasons) == 20
    for p in (0, 1):
        for k, lang in enumerate(LANGS[1:], 1):
            for j in range(2):
                reason = reasons[docs[p][2 * k + j]["id"]]
                # lid.176 is unsure on some Croatian (it spreads hr over hr/sh/bs): a low score is dropped first
                assert reason == f"lang={lang}" or (lang == "hr" and reason == "lang_score<0.5"), (lang, reason)
    assert sorted(set(reasons.values()) - {"lang_score<0.5"}) == ["lang=de", "lang=fr", "lang=hr", "lang=ru", "lang=zh"]
    lid_md = result.asset_materializations_for_node("cc_language_id")[0].metadata
    assert "| en | 4 | 4 |" in lid_md["languages"].value
    assert lid_md["languages_plot"].value.startswith("![documents per language](data:image/png;base64,")
    assert (layout.work / "langid" / "commoncrawl_languages.png").exists()
    assert lid_md["docs_in"].value == 24 and lid_md["docs_out"].value == 4


def test_group_size_one_keeps_lines_shared_only_across_parts(tmp_path, samples_dir):
    root = tmp_path / "data"
    layout, docs, boiler = _write_ingest(root, samples_dir)
    _materialize(root, [cc_line_dedup], {"ops": {"cc_line_dedup": {"config": {"group_size": 1}}}})
    texts = dict(zip(*(_table(layout, "docs", "line_dedup").column(c).to_pylist() for c in ("id", "text"))))
    # part0 has the line twice (removed there); part1 has it in one doc and in the boilerplate-only doc
    assert not any(boiler in texts[d["id"]] for d in docs[0])
    assert not any(boiler in texts.get(d["id"], "") for d in docs[1])
    assert _table(layout, "dropped", "line_dedup").column("reason").to_pylist() == ["line_dedup_empty"]


def test_per_language_threshold_and_kept_languages_from_config(tmp_path, samples_dir):
    root = tmp_path / "data"
    layout, _, _ = _write_ingest(root, samples_dir)
    _materialize(root, [cc_line_dedup, cc_language_id], {"ops": {"cc_language_id": {"config": {
        "keep_languages": ["en", "de"], "min_score_per_language": {"de": 1.0}, "use_refiners": False}}}})
    reasons = _table(layout, "dropped", "langid").column("reason").to_pylist()
    assert reasons.count("lang_score<1") == 4  # every de doc under the strictest threshold
    assert set(_table(layout, "docs", "langid").column("lang").to_pylist()) == {"en"}


@pytest.mark.slow
def test_langid_model_asset_reports_heldout_accuracy(tmp_path, samples_dir):
    result = _materialize(tmp_path / "data", [langid_model], raw_dir=samples_dir)
    md = result.asset_materializations_for_node("langid_model")[0].metadata
    assert md["accuracy"].value >= 0.93 and md["accuracy"].value > md["base_accuracy"].value
    assert len(md["model_sha256"].value) == 64
    assert "| bs |" in md["accuracy_per_language"].value
    # off the refiners' training distribution (quality_models.langid_sets) they do not lose either
    assert md["gettext_accuracy"].value > md["gettext_base_accuracy"].value
    assert md["wikipedia_accuracy"].value == md["wikipedia_base_accuracy"].value
    assert "| sr |" in md["gettext_accuracy_per_language"].value


LABELLED_STEP = 40  # every 40th row of the samples' labelled.tsv (1,004 rows): 508 of them in the held-out half


@pytest.mark.slow
def test_langid_model_finds_the_labelled_sentences_in_the_raw_inputs_from_any_directory(tmp_path, samples_dir, monkeypatch):
    """The default labelled file is ``<raw inputs>/langid/labelled.tsv`` whatever the working directory (it
    was looked up beside the checkout, whatever the raw inputs); a raw folder without one trains no
    refiners and says so in the metadata; a labelled_tsv that does not exist fails the step."""
    monkeypatch.delenv(LABELLED_ENV, raising=False)
    raw = tmp_path / "raw"
    (raw / LABELLED_IN_RAW).parent.mkdir(parents=True)
    rows = (samples_dir / "langid" / "labelled.tsv").read_text(encoding="utf-8").splitlines()[::LABELLED_STEP]
    (raw / LABELLED_IN_RAW).write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    md = _materialize(tmp_path / "data", [langid_model], raw_dir=raw).asset_materializations_for_node("langid_model")[0].metadata
    assert md["labelled_sentences"].value == str(raw / LABELLED_IN_RAW)
    assert md["heldout_sentences"].value == 508
    assert md["refiners_dir"].value.startswith(str(tmp_path / "data" / "models"))
    md = _materialize(tmp_path / "data2", [langid_model], raw_dir=tmp_path / "elsewhere").asset_materializations_for_node("langid_model")[0].metadata
    assert md["labelled_sentences"].value == f"none: no labelled sentences at {tmp_path / 'elsewhere' / LABELLED_IN_RAW}"
    assert "refiners_dir" not in md and "heldout_sentences" not in md
    with pytest.raises(dg.Failure, match="labelled sentences not found: missing.tsv"):
        _materialize(tmp_path / "data3", [langid_model], {"ops": {"langid_model": {"config": {"labelled_tsv": "missing.tsv"}}}}, raw)


def test_a_rerun_that_skips_every_part_reports_the_same_stage_metadata(tmp_path, samples_dir):
    """The line counts, languages and score histogram come from the parts' stats: a rerun that builds
    nothing reads them back from the parts it skips and reports the same values."""
    root = tmp_path / "data"
    _write_ingest(root, samples_dir)
    assets = [cc_line_dedup, cc_language_id]
    first, again = (_materialize(root, assets, LID_ALONE) for _ in range(2))
    derived = {"cc_line_dedup": ["lines_in", "lines_out", "lines_duplicate", "lines_repeated_in_doc", "lines_blank",
                                 "duplicate_line_fraction", "docs_emptied", "duplicate_line_spread", "docs_out"],
               "cc_language_id": ["languages", "languages_plot", "score_histogram", "docs_in", "docs_out"]}
    for asset, keys in derived.items():
        before, after = (r.asset_materializations_for_node(asset)[0].metadata for r in (first, again))
        assert (before["parts_computed"].value, after["parts_computed"].value, after["parts_skipped"].value) == (2, 0, 2)
        assert {k: after[k].value for k in keys} == {k: before[k].value for k in keys}
    lid = first.asset_materializations_for_node("cc_language_id")[0].metadata
    assert "| 0.9-1.0 | " in lid["score_histogram"].value and "| en | 4 | 4 |" in lid["languages"].value
