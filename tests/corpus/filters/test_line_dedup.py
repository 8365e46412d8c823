"""CCNet line dedup on real sentences: a line in several documents goes from all of them."""
import hashlib

import numpy as np
import pyarrow.parquet as pq
import pytest

from corpus.filters import line_dedup
from corpus.schema import documents_to_batch, new_document


def _sentences(samples_dir, lang, n, skip=0):
    path = samples_dir / "langid" / "lingua-sentences" / f"{lang}.txt"
    return path.read_text(encoding="utf-8").splitlines()[skip:skip + n]


def _pass1(batches, tmp_path, name="part"):
    """A part's hash file and key file."""
    hashes = line_dedup.hash_part(batches)
    path, keys = tmp_path / f"{name}.parquet", tmp_path / f"{name}.keys.parquet"
    pq.write_table(hashes, path)
    pq.write_table(line_dedup.part_keys(hashes), keys)
    return path, keys


def _run(batches, tmp_path, name="part", buckets=4):
    """Pass 1 and pass 2 of one part that is its own group."""
    path, keys = _pass1(batches, tmp_path, name)
    group = line_dedup.count_group([keys], buckets)
    flt = line_dedup.LineDedupFilter(path, group.duplicates, "commoncrawl")
    return [flt(b) for b in batches], keys


def test_normalisation_follows_ccnet():
    assert line_dedup.normalize_line("  Price: 1999 EUR\t") == "price: 0000 eur"
    # Unicode digits become 0; the fixed punctuation set and control characters go; ASCII punctuation stays
    assert line_dedup.normalize_line("«Ａｂｃ» ٣٤ – test！\x07\x85") == "ａｂｃ 00  test"
    assert line_dedup.normalize_line("Hello, world!") == "hello, world!"
    assert line_dedup.normalize_line(" \x01 ，。 ") == ""


def test_fullwidth_digits_become_0_before_the_punctuation_is_removed():
    # cc_net's order: digits -> 0, then remove; "１" is also a key of its punctuation set, so the other order loses it
    assert line_dedup.normalize_line("１０ years") == line_dedup.normalize_line("10 years") == "00 years"
    assert line_dedup.normalize_line("«１９５９»") == "0000"


def test_a_line_with_fullwidth_digits_is_a_duplicate_of_its_ascii_twin(samples_dir, tmp_path):
    en = _sentences(samples_dir, "en", 12)
    dated = next(s for s in en if "1959" in s)  # a real line with a year in it
    fullwidth = dated.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert fullwidth != dated
    docs = [new_document("commoncrawl", "w:1", "\n".join(en[:3] + [dated])),
            new_document("commoncrawl", "w:2", "\n".join([fullwidth] + en[3:6]))]
    [(kept, drops)], _ = _run([documents_to_batch(docs)], tmp_path)
    assert kept.column("text").to_pylist() == ["\n".join(en[:3]), "\n".join(en[3:6])]
    assert drops.num_rows == 0


def test_hash_is_the_sha1_prefix_as_little_endian_uint64(samples_dir):
    lines = _sentences(samples_dir, "de", 5)
    batch = documents_to_batch([new_document("commoncrawl", "t:1", "\n".join(lines))])
    got = line_dedup.hash_batch(batch).column("hash").to_numpy()
    want = [int.from_bytes(hashlib.sha1(line_dedup.normalize_line(s).encode()).digest()[:8], "little") for s in lines]
    assert got.tolist() == want


def test_boilerplate_line_in_three_documents_is_removed_from_all_three(samples_dir, tmp_path):
    en, de, ru = (_sentences(samples_dir, lang, 4) for lang in ("en", "de", "ru"))
    boiler = _sentences(samples_dir, "fr", 2, skip=10)  # two real lines used as a site's boilerplate
    docs = [
        new_document("commoncrawl", "p:1", "\n".join([boiler[0]] + en + [boiler[1]])),
        new_document("commoncrawl", "p:2", "\n".join(de[:2] + [boiler[0].upper()] + de[2:])),  # case differs
        new_document("commoncrawl", "p:3", "\n".join(ru + [boiler[1] + "  "])),  # trailing space differs
        new_document("commoncrawl", "p:4", "\n".join([boiler[0], boiler[1], boiler[0]])),  # only boilerplate
    ]
    [(kept, drops)], _ = _run([documents_to_batch(docs)], tmp_path)
    texts = dict(zip(kept.column("id").to_pylist(), kept.column("text").to_pylist()))
    assert set(texts) == {docs[0]["id"], docs[1]["id"], docs[2]["id"]}
    assert texts[docs[0]["id"]] == "\n".join(en)
    assert texts[docs[1]["id"]] == "\n".join(de)
    assert texts[docs[2]["id"]] == "\n".join(ru)
    assert drops.column("id").to_pylist() == [docs[3]["id"]]
    assert drops.column("reason").to_pylist() == ["line_dedup_empty"]
    assert drops.column("stage").to_pylist() == ["line_dedup"]


def test_a_repeat_inside_one_document_keeps_its_first_copy(samples_dir, tmp_path):
    s = _sentences(samples_dir, "it", 3)
    doc = new_document("commoncrawl", "q:1", "\n".join([s[0], s[1], s[0], "", "   ", s[2], s[1]]))
    [(kept, drops)], _ = _run([documents_to_batch([doc])], tmp_path)
    assert kept.column("text").to_pylist() == ["\n".join(s)]
    assert drops.num_rows == 0


def test_hashes_are_pooled_across_batches_and_rows_line_up(samples_dir, tmp_path):
    pl = _sentences(samples_dir, "pl", 60)
    shared = _sentences(samples_dir, "cs", 1)[0]
    docs = [new_document("commoncrawl", f"r:{i}", "\n".join(pl[3 * i:3 * i + 3] + ([shared] if i in (2, 17) else [])))
            for i in range(20)]
    batches = [documents_to_batch(docs[:7]), documents_to_batch(docs[7:])]
    results, path = _run(batches, tmp_path)
    out = [t for kept, _ in results for t in kept.column("text").to_pylist()]
    assert out == ["\n".join(pl[3 * i:3 * i + 3]) for i in range(20)]
    stats = line_dedup.count_group([path], 4).counts
    assert stats["lines_in"] == 62 and stats["lines_duplicate"] == 2 and stats["lines_out"] == 60
    assert stats["dup_hashes"] == 1 and stats["dup_docs_2"] == 1


def test_a_stale_hash_file_is_refused(samples_dir, tmp_path):
    docs = [new_document("commoncrawl", "s:1", "\n".join(_sentences(samples_dir, "nl", 3)))]
    hashes = line_dedup.hash_part([documents_to_batch(docs)])
    path = tmp_path / "h.parquet"
    pq.write_table(hashes, path)
    changed = [new_document("commoncrawl", "s:1", "\n".join(_sentences(samples_dir, "nl", 4)))]
    with pytest.raises(ValueError, match="stale"):
        line_dedup.LineDedupFilter(path, np.zeros(0, np.uint64), "commoncrawl")(documents_to_batch(changed))


def test_bucketed_counting_is_the_same_for_any_bucket_count_and_each_bucket_keeps_its_range(samples_dir, tmp_path):
    # three parts of real sentences: 20 lines shared by parts 0 and 1, 20 by parts 1 and 2, 10 by all three;
    # one line repeated inside the first document of each part
    de = _sentences(samples_dir, "de", 400)
    shared = {0: de[300:320] + de[340:350], 1: de[300:350], 2: de[320:350]}
    keys = []
    for p in range(3):
        own = de[100 * p:100 * p + 100]
        docs = [new_document("commoncrawl", f"p{p}:{i}", "\n".join(own[4 * i:4 * i + 4] + shared[p][i::20]
                                                                   + ([de[390 + p]] * 2 if i == 0 else [])))
                for i in range(20)]
        keys.append(_pass1([documents_to_batch(docs)], tmp_path, f"part{p}")[1])
    whole = line_dedup.count_group(keys, 1)
    assert len(whole.duplicates) == 50 and np.all(whole.duplicates[1:] > whole.duplicates[:-1])
    assert (whole.counts["dup_docs_2"], whole.counts["dup_docs_3_10"], whole.counts["lines_duplicate"]) == (40, 10, 110)
    assert whole.counts["lines_repeated_in_doc"] == 3 and whole.counts["lines_in"] == sum(
        pq.read_table(tmp_path / f"part{p}.parquet").num_rows for p in range(3))
    for buckets in (2, 7, 16):
        split = line_dedup.count_group(keys, buckets)
        assert np.array_equal(split.duplicates, whole.duplicates) and split.counts == whole.counts
        for b in range(buckets):
            lo, hi = line_dedup.bucket_range(b, buckets)
            mine = line_dedup.count_bucket(keys, b, buckets).duplicates
            assert all(lo <= int(h) < hi for h in mine)
    assert line_dedup.bucket_range(15, 16)[1] == 1 << 64
    with pytest.raises(ValueError, match="not in 0..15"):
        line_dedup.bucket_range(16, 16)


class _Log:
    def __init__(self):
        self.lines = []

    def info(self, msg):
        self.lines.append(msg)


def _build(layout, stage):
    """Every unit of a planned stage built in this process, the parts' stats summed."""
    from corpus.executors import PartJob, build_part
    from corpus.storage import PartStats

    total = PartStats("commoncrawl", line_dedup.STAGE)
    for unit in stage.units:
        total.merge(build_part(PartJob(layout, line_dedup.STAGE, "commoncrawl", unit.part, unit.fingerprint, unit.build,
                                       unit.part)))
    return total


def test_stage_plan_and_report_on_real_sentences_count_what_the_group_counting_counts(tmp_path, samples_dir):
    """Pass 1 (hashes per part, the group's buckets) through the executor's map, pass 2 through the units; the
    report's line counts come from the parts' counters and equal the group counting's, and a second plan
    recounts nothing while the skipped parts' stats give the same counters."""
    from corpus.storage import PartStats, read_part_stats
    from tests.assets.test_ccnet_line_dedup_langid import _write_ingest

    layout, docs, _ = _write_ingest(tmp_path / "data", samples_dir)
    work, parts = layout.work / "line_dedup", layout.docs_parts("ingest", "commoncrawl")
    log = _Log()
    stage = line_dedup.LineDedupStage.plan(work, parts, log, group_size=0, hash_buckets=3,
                                           duckdb_memory_limit="1GB")
    assert [u.part for u in stage.units] == ["part0", "part1"] and list(stage.groups) == ["local/00000"]
    stats = _build(layout, stage)
    report = stage.report(stats)
    # 24 docs of 5 sentences, a boilerplate line in 3 of them, and a doc of that line twice (its 2nd copy repeated)
    assert {k: report[k] for k in line_dedup.LINE_COUNTER_NAMES} == {
        "lines_in": 125, "lines_blank": 0, "lines_repeated_in_doc": 1, "lines_duplicate": 4, "lines_out": 120}
    group = line_dedup.count_group([work / "keys" / p.name for p in parts], 3).counts
    assert {k: group[k] for k in line_dedup.LINE_COUNTER_NAMES} == {k: report[k] for k in line_dedup.LINE_COUNTER_NAMES}
    assert stage.spread == {"dup_docs_2": 0, "dup_docs_3_10": 1, "dup_docs_11_100": 0, "dup_docs_over_100": 0}
    assert "| 3-10 | 1 |" in report["duplicate_line_spread"]
    assert (report["groups"], report["groups_counted"], report["docs_emptied"], report["snapshots"]) == (1, 1, 1, ["local"])
    assert report["duplicate_line_fraction"] == round(4 / 125, 4)
    assert log.lines == []  # in-process: the map logs nothing; under Ray it names its tasks
    again = line_dedup.LineDedupStage.plan(work, parts, log, group_size=0, hash_buckets=3,
                                           duckdb_memory_limit="1GB")
    assert again.groups_counted == 0 and [u.fingerprint for u in again.units] == [u.fingerprint for u in stage.units]
    skipped = PartStats("commoncrawl", line_dedup.STAGE)
    for unit in again.units:
        skipped.merge(read_part_stats(layout, line_dedup.STAGE, "commoncrawl", unit.part))
    assert skipped.counters == stats.counters and again.report(skipped) == {**report, "groups_counted": 0}
