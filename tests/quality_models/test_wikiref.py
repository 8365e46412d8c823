"""The Wikipedia-reference classifier on the real samples: cited pages through Common Crawl's index and range
fetch (loopback), negatives after LID, the curated fallback with its calibrated keep rule, held-out AUC on
balanced classes, bounded memory, versioning."""
import dataclasses
import functools
import io
import json
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastwarc.warc import ArchiveIterator, WarcRecordType

from corpus import cc_index, recipe
from corpus.filters import langid as langid_filter
from corpus.filters.wikiref import WikirefScorer
from corpus.part_runners import filter_part
from corpus.storage import Layout, PartWriter, iter_batches
from quality_models import wikiref
from quality_models.language_identifier import LanguageIdentifier
from quality_models.wikiref import PrioritySample, WikirefInputs, WikirefParams, auc, chunks, normalize_url
from tests.httpserver import serve
from tests.quality_models.test_kenlm_model import sample_docs, write_parts
from tests.web_pages import boilerplate_pages, english_pages

# real English Common Crawl-style crawls whose records are the loopback WARC's (their pages, not the cited ones)
ENGLISH_CRAWLS = ("archive-it-heritrix-2013_bitchmagazine_ipwb/sample-1.warc.gz",
                  "bl-heritrix-2014_data-gov-uk_webarchive-discovery/BL-20140325121225068-00000-32090~opera~8443.warc.gz")
CHINESE_CRAWL = "cc-main-2020-34_resiliparse/warcfile.warc.gz"  # 12 of its 16 pages are zh
LOOPBACK_PAGES = 60
TOO_SHORT = 3  # of those 60 HTML pages, under CCNet's 300 characters of text once extracted
WARC_NAME = "crawl-data/CC-MAIN-TEST/segments/0/warc/cited.warc.gz"


def default_params(**kw) -> WikirefParams:
    p = WikirefParams(min_positives=recipe.WIKIREF_MIN_POSITIVES, min_positive_chars=recipe.WIKIREF_MIN_POSITIVE_CHARS,
                      min_example_chars=recipe.WIKIREF_MIN_EXAMPLE_CHARS, holdout_fraction=recipe.WIKIREF_HOLDOUT_FRACTION,
                      lr=recipe.WIKIREF_FASTTEXT_LR, dim=recipe.WIKIREF_FASTTEXT_DIM, epoch=recipe.WIKIREF_FASTTEXT_EPOCH,
                      word_ngrams=recipe.WIKIREF_FASTTEXT_WORD_NGRAMS, min_score=recipe.WIKIREF_MIN_SCORE,
                      fallback_keep_fraction=recipe.WIKIREF_FALLBACK_KEEP_FRACTION,
                      max_examples_per_class=recipe.WIKIREF_MAX_EXAMPLES_PER_CLASS,
                      max_chunks_per_document=recipe.WIKIREF_MAX_CHUNKS_PER_DOCUMENT,
                      max_calibration_documents=recipe.WIKIREF_MAX_CALIBRATION_DOCUMENTS,
                      max_cited_urls=recipe.WIKIREF_MAX_CITED_URLS)
    return dataclasses.replace(p, **kw)


@functools.lru_cache(maxsize=None)
def lid_filter() -> langid_filter.LangIdFilter:
    return langid_filter.LangIdFilter(LanguageIdentifier(), "commoncrawl", recipe.CC_KEEP_LANGUAGES, recipe.LANGID_MIN_SCORE)


def ingest_parts(samples: str, root: Path) -> WikirefInputs:
    """Wikipedia and Books ingest parts, and Common Crawl after LID (the `langid` stage), from the real samples."""
    layout = Layout(root)
    for source in ("wikipedia", "books", "commoncrawl"):
        if not layout.docs_parts("ingest", source):
            write_parts(root, "ingest", source, sample_docs(source, samples))
    if not layout.docs_parts("langid", "commoncrawl"):
        for part in layout.docs_parts("ingest", "commoncrawl"):
            with PartWriter(layout, "langid", "commoncrawl", part.name.removesuffix(".parquet"), "test") as writer:
                filter_part(writer, iter_batches([part]), lid_filter())
    return WikirefInputs(layout.docs_parts("ingest", "wikipedia"), layout.docs_parts("ingest", "books"),
                         layout.docs_parts("langid", "commoncrawl"))


@functools.lru_cache(maxsize=None)
def trained_classifier(samples: str, root: str):
    return wikiref.train_classifier(ingest_parts(samples, Path(root)), Layout(Path(root)).models, default_params())


@pytest.fixture(scope="session")
def classifier(samples_dir, tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "wikiref_shared" / "data"
    return (root, *trained_classifier(str(samples_dir), str(root)))


def gzip_records(path: Path) -> list[tuple[bytes, str, str, bool]]:
    """(gzip member bytes, record type, target URI, HTML 200 response?) of each record of a real WARC file."""
    data = path.read_bytes()
    starts = [r.stream_pos for r in ArchiveIterator(open(path, "rb"), parse_http=False)]
    out = []
    for start, end in zip(starts, starts[1:] + [len(data)]):
        member = data[start:end]
        assert zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(member)[:5] == b"WARC/"  # one record per member
        record = next(iter(ArchiveIterator(io.BytesIO(member), parse_http=True)))
        html = (record.record_type == WarcRecordType.response and record.is_http
                and record.http_headers.status_code == 200 and "html" in (record.http_content_type or ""))
        out.append((member, str(record.record_type), record.headers.get("WARC-Target-URI"), html))
    return out


def loopback_index(samples_dir: Path, cited: list[str], root: Path) -> dict:
    """A Common Crawl layout under ``root``: one WARC file made of real records (gzip members copied byte for byte
    from the sample crawls) and a columnar index mapping real cited URLs of the sample dumps to them (none of the
    dumps' cited URLs is in the sample crawls, so the mapping is ours), plus rows that must not be used."""
    members = [m for crawl in ENGLISH_CRAWLS for m in gzip_records(samples_dir / "commoncrawl" / crawl) if m[3]]
    chinese = [m for m in gzip_records(samples_dir / "commoncrawl" / CHINESE_CRAWL) if m[3]]
    warc, rows, offset = bytearray(), [], 0
    chosen = members[:LOOPBACK_PAGES] + chinese[:4]
    for i, (member, _, _, _) in enumerate(chosen):
        variants = cc_index.url_variants(cited[i])  # how Common Crawl may have stored it: each form in turn
        rows.append({"url": variants[i % len(variants)], "warc_filename": WARC_NAME, "warc_record_offset": offset,
                     "warc_record_length": len(member), "fetch_status": 200})
        warc += member
        offset += len(member)
    n = len(chosen)
    extra = [
        # a cited URL captured as a redirect only: no page
        {"url": cc_index.url_variants(cited[n])[0], "warc_filename": WARC_NAME, "warc_record_offset": 0,
         "warc_record_length": len(chosen[0][0]), "fetch_status": 301},
        # a URL nobody cites: never fetched
        {"url": "https://not-cited.example/page", "warc_filename": WARC_NAME, "warc_record_offset": 0,
         "warc_record_length": len(chosen[0][0]), "fetch_status": 200},
        # a cited URL whose record the server does not have (past the end of the file)
        {"url": cc_index.url_variants(cited[n + 1])[-1], "warc_filename": WARC_NAME, "warc_record_offset": len(warc) + 10,
         "warc_record_length": 500, "fetch_status": 200},
    ]
    (root / WARC_NAME).parent.mkdir(parents=True)
    (root / WARC_NAME).write_bytes(bytes(warc))
    index = root / "cc-index/table/cc-main/warc/crawl=CC-MAIN-TEST/subset=warc/part-00000.parquet"
    index.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows + extra), index)
    return {"index": index.relative_to(root).as_posix(), "pages": len(members[:LOOPBACK_PAGES]),
            "chinese": len(chinese[:4])}


def test_normalize_url_matches_variants_of_one_page():
    a = normalize_url("https://www.Example.com:443/a/b/?q=1#frag")
    assert a == "example.com/a/b?q=1"
    assert normalize_url("http://example.com/a/b?q=1") == a
    assert normalize_url("http://example.com:8080/a") == "example.com:8080/a"
    assert normalize_url("ftp://example.com/x") is None and normalize_url("mailto:x@y.z") is None
    assert normalize_url("http://[bad") is None and normalize_url(None) is None
    variants = cc_index.url_variants(a)
    assert len(variants) == 8 and "https://www.example.com/a/b/?q=1" in variants
    assert {normalize_url(v) for v in variants} == {a}
    assert cc_index.url_variants("example.com") == ["http://example.com/", "http://www.example.com/",
                                                    "https://example.com/", "https://www.example.com/"]


def test_auc_is_the_mann_whitney_statistic():
    assert auc(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 1.0
    assert auc(np.array([0.1]), np.array([0.9])) == 0.0
    assert auc(np.array([0.5, 0.5]), np.array([0.5])) == 0.5
    assert auc(np.array([0.3, 0.9]), np.array([0.5])) == 0.5
    assert auc(np.array([]), np.array([0.5])) is None


def test_chunks_merge_paragraph_lines_to_a_minimum_size():
    text = "\n".join(["a" * 50] * 9)
    out = chunks(text, 200)
    assert [len(c) for c in out] == [203, 254]  # 4 lines, then 4 + the short tail
    assert chunks("short", 200) == ["short"]


def test_priority_sample_is_bounded_deduplicated_and_order_independent():
    keys = [f"k{i}" for i in range(1000)]
    a, b = PrioritySample(50), PrioritySample(50)
    for k in keys + keys[:300]:  # 300 repeats
        a.add(wikiref.priority(0, k), k, k.upper())
    for k in reversed(keys):
        b.add(wikiref.priority(0, k), k, k.upper())
    assert len(a) == 50 and a.seen == 1300
    assert a.items() == b.items()  # the same 50, in priority order, whatever the stream order
    lowest = sorted(keys, key=lambda k: wikiref.priority(0, k))[:50]
    assert [k for _, k, _ in a.items()] == lowest and a.items()[0][2] == lowest[0].upper()


def test_index_lookup_and_range_fetch_turn_cited_urls_into_positives(classifier, samples_dir, tmp_path):
    """Cited URLs of the sample dumps -> columnar index (DuckDB) -> WARC records by byte range -> reader -> LID."""
    root, *_ = classifier
    inputs = ingest_parts(str(samples_dir), root)
    cited, mentions = wikiref.cited_urls(inputs.wikipedia, recipe.WIKIREF_MAX_CITED_URLS)
    assert len(cited) > 1000 and mentions > len(cited)
    served = tmp_path / "commoncrawl"
    layout = loopback_index(samples_dir, list(cited), served)
    assert layout["pages"] == LOOPBACK_PAGES and layout["chinese"] == 4
    with serve(served) as (base, hits):
        cache = tmp_path / "cache"
        found = cc_index.lookup(cited, [f"{base}/{layout['index']}"], cache, max_pages=1000)
        assert len(found) == LOOPBACK_PAGES + 4 + 1  # + the record past the end; not the 301, not the uncited URL
        assert [h.key for h in found] == sorted((h.key for h in found), key=cited.get)  # priority order
        assert len(cc_index.lookup(cited, [f"{base}/{layout['index']}"], cache, max_pages=10)) == 10  # the cap
        records = list(cc_index.cited_pages(found, base, cache))
        ranges = [r for path, r in hits if path == WARC_NAME]
        assert len(ranges) == len(found) and all(r.startswith("bytes=") and r.count("-") == 1 for r in ranges)
        docs = [r for r in records if isinstance(r, dict)]
        drops = [r for r in records if not isinstance(r, dict)]
        print("fetched:", len(docs), "pages;", Counter(d.reason for d in drops))
        assert Counter(d.reason for d in drops) == {"fetch_failed": 1, "too_short": TOO_SHORT}  # CCNet's 300 chars
        assert len(docs) == LOOPBACK_PAGES + 4 - TOO_SHORT
        assert all(json.loads(d["meta"])["cited_url"] in cited for d in docs)
        list(cc_index.cited_pages(found, base, cache))  # again: from the cache, only the missing record is asked for
        assert len([p for p, _ in hits if p == WARC_NAME]) == len(found) + 1
        local = list(cc_index.cited_pages(found, str(served), tmp_path / "local_cache"))  # WARC files on disk
        assert [r["text"] for r in local if isinstance(r, dict)] == [d["text"] for d in docs]
        assert [r.reason for r in local if not isinstance(r, dict)].count("fetch_failed") == 1

        source = wikiref.index_cited_pages([f"{base}/{layout['index']}"], base, cache, recipe.WIKIREF_MAX_CITED_PAGES)
        indexed = dataclasses.replace(inputs, cited_pages=source, lid=lid_filter())
        params = default_params(min_positives=30)
        folder, manifest, _ = wikiref.train_classifier(indexed, tmp_path / "models", params)
    assert manifest["positives_source"] == "wikipedia_references"
    assert manifest["cited_pages_fetched"] == len(docs) and manifest["cited_pages_dropped_fetch_failed"] == 1
    # LID drops 2 zh + 1 ru pages (of the 4 from the CC-MAIN-2020-34 crawl) and keeps 58 English ones,
    # 10 of them under RedPajama's 1,000 characters (all counts fixed by the reader and lid.176)
    assert {k: v for k, v in manifest.items() if k.startswith("cited_pages_")} == {
        "cited_pages_fetched": 61, "cited_pages_dropped_fetch_failed": 1, "cited_pages_dropped_too_short": TOO_SHORT,
        "cited_pages_dropped_lang=zh": 2, "cited_pages_dropped_lang=ru": 1, "cited_pages_dropped_short": 10,
        "cited_pages_fetched_kept": 48, "cited_pages_used": 48}
    used = manifest["cited_pages_used"]
    assert manifest["keep_rule"] == {"rule": "P(wiki-ref) >= 0.25 (RedPajama v1)", "min_score": 0.25}
    assert manifest["examples"]["train_wikiref_cc_index_cited"] == manifest["examples"]["train_random_commoncrawl"]
    # the fetched records are also crawled pages of the inputs (same WARC record ids): never negatives too
    assert manifest["web_pages_excluded_as_cited"] == used
    assert manifest["heldout_positives"] == manifest["heldout_negatives"] > 50
    assert manifest["heldout_auc"] >= 0.8  # measured 0.8943 (69 + 69 held-out chunks)
    print(f"cited-page classifier: {used} positive pages, held-out {manifest['heldout_positives']} + "
          f"{manifest['heldout_negatives']} examples, AUC {manifest['heldout_auc']}")


def test_offline_index_fails_fast_naming_the_host(tmp_path):
    with pytest.raises(cc_index.IndexUnreachable, match=r"127\.0\.0\.1 cannot be reached.*cc_index"):
        cc_index.lookup({"example.com/a": 1}, ["http://127.0.0.1:9/index.parquet"], tmp_path, 10)
    with pytest.raises(FileNotFoundError, match="index file"):
        cc_index.lookup({"example.com/a": 1}, [str(tmp_path / "missing.parquet")], tmp_path, 10)


def test_too_few_cited_pages_falls_back_to_curated_positives_with_a_calibrated_rule(classifier, samples_dir):
    root, folder, manifest, _ = classifier
    # the samples' Wikipedia pages cite thousands of URLs, none of which is in the sample crawls
    assert manifest["cited_urls_sampled"] > 1000 and manifest["cited_pages_used"] < recipe.WIKIREF_MIN_POSITIVES
    assert manifest["positives_source"] == "fallback_curated"
    ex, docs = manifest["examples"], manifest["documents"]
    assert ex["train_wikiref_wikipedia"] > 0 and ex["train_wikiref_books"] > 0
    # negatives: Common Crawl pages after LID only (no C4, no pre-LID pages of other languages)
    assert {k.rsplit("_", 1)[-1] for k in ex if "_random_" in k} == {"commoncrawl"}
    assert ex["train_wikiref_wikipedia"] + ex["train_wikiref_books"] == ex["train_random_commoncrawl"]
    assert ex["heldout_wikiref_wikipedia"] + ex["heldout_wikiref_books"] == ex["heldout_random_commoncrawl"]
    rule = manifest["keep_rule"]
    assert rule["keep_fraction"] == recipe.WIKIREF_FALLBACK_KEEP_FRACTION
    assert rule["calibration_documents"] == docs["heldout_random_commoncrawl"] > 10
    # the rule means what it says: it keeps keep_fraction of the held-out web documents it was calibrated on
    # to within one document: the threshold is the lower quantile, stored rounded to 6 digits (measured: 31 of 63)
    pools, _ = wikiref.collect_examples(ingest_parts(str(samples_dir), root), default_params())
    calibration = [text for _, _, (_, text) in pools.heldout_documents[wikiref.NEGATIVE].items()]
    scores = WikirefScorer(folder / "model.bin").score(calibration)
    assert len(scores) == rule["calibration_documents"]
    kept = int(np.sum(scores >= rule["min_score"]))
    assert abs(kept - rule["keep_fraction"] * len(scores)) <= 1, (kept, len(scores))
    print(f"fallback rule {rule['rule']}: keeps {kept}/{len(scores)} held-out web documents; RedPajama's "
          f"{recipe.WIKIREF_MIN_SCORE} would keep {int(np.sum(scores >= recipe.WIKIREF_MIN_SCORE))}")
    assert 0 < rule["min_score"] < 1


def test_ranks_heldout_curated_paragraphs_above_random_web_pages(classifier):
    """Held-out documents (none of their chunks trained on), balanced classes: AUC and balanced accuracy."""
    _, _, manifest, _ = classifier
    print(f"held-out documents: {manifest['heldout_document_positives']} + {manifest['heldout_document_negatives']}, "
          f"AUC {manifest['heldout_document_auc']}, balanced accuracy {manifest['heldout_document_accuracy']}")
    print(f"held-out: {manifest['heldout_positives']} positive and {manifest['heldout_negatives']} negative examples, "
          f"AUC {manifest['heldout_auc']}, books vs CC {manifest['heldout_auc_books_vs_commoncrawl']}, "
          f"Wikipedia vs CC {manifest['heldout_auc_wikipedia_vs_commoncrawl']}, "
          f"balanced accuracy {manifest['heldout_accuracy']}")
    assert manifest["heldout_positives"] == manifest["heldout_negatives"] > 100
    assert manifest["heldout_auc"] >= 0.8
    assert manifest["heldout_auc_wikipedia_vs_commoncrawl"] >= 0.75
    assert manifest["heldout_auc_books_vs_commoncrawl"] >= 0.8
    # balanced accuracy at the calibrated threshold (mean recall of the two classes): the rule keeps half of the web
    # pages by design, so at most ~0.75; chance is 0.5. Measured 0.6859 (deterministic here over 5 retrainings)
    assert manifest["heldout_accuracy"] >= 0.65
    # whole held-out documents, scored as the filter scores them, balanced: 33 + 33 on the samples
    assert manifest["heldout_document_positives"] == manifest["heldout_document_negatives"] >= 30
    assert manifest["heldout_document_auc"] >= 0.9


def test_keeps_a_share_of_unseen_real_english_pages_at_any_input_size(classifier, samples_dir):
    """C4 pages were never trained on (nor calibrated on); the keep rule is defined for a single page too."""
    _, folder, manifest, _ = classifier
    scorer, threshold = WikirefScorer(folder / "model.bin"), manifest["keep_rule"]["min_score"]
    kept = {}
    for n in (1, 30, 3000):
        scores = scorer.score(english_pages(samples_dir, n, split="evaluation"))
        kept[n] = float(np.mean(scores >= threshold))
    print(f"wikiref alone keeps of real English pages: {kept}")
    assert 0.2 <= kept[30] <= 0.9 and 0.2 <= kept[3000] <= 0.9
    # wikiref alone is no boilerplate filter (perplexity is): printed, not claimed. Measured: navigation 7/10 and
    # cookie-notice 4/10 pages over the threshold, keyword lists 10/10 (P 0.57-0.89: long comma-separated proper nouns)
    pages = boilerplate_pages(samples_dir)
    over = Counter(kind for (kind, _), p in zip(pages, scorer.score([t for _, t in pages])) if p >= threshold)
    print(f"boilerplate pages over the threshold: {dict(over)} of {dict(Counter(k for k, _ in pages))}")


def test_training_memory_is_bounded_by_the_sample_sizes(classifier, samples_dir, tmp_path):
    root, *_ = classifier
    params = default_params(max_examples_per_class=200, max_calibration_documents=15, max_cited_urls=500)
    folder, manifest, _ = wikiref.train_classifier(ingest_parts(str(samples_dir), root), tmp_path / "models", params)
    assert manifest["cited_urls_sampled"] == 500
    assert manifest["train_examples"] == 2 * 200  # both classes capped, still balanced
    assert manifest["heldout_positives"] == manifest["heldout_negatives"] == int(200 * params.holdout_fraction)
    assert manifest["keep_rule"]["calibration_documents"] == 15


def test_same_data_reuses_the_model_and_gives_the_same_version(classifier, samples_dir, tmp_path):
    root, folder, manifest, _ = classifier
    inputs = ingest_parts(str(samples_dir), root)
    again, _, reused = wikiref.train_classifier(inputs, Layout(root).models, default_params())
    assert reused and again == folder
    fresh, manifest3, reused3 = wikiref.train_classifier(inputs, tmp_path / "models", default_params())
    assert not reused3 and manifest3["version"] == manifest["version"]  # same examples, same parameters
    # fastText itself is not bit-reproducible here even with thread=1 and a seed:
    # reruns are reproducible because the versioned model is reused, not retrained
    assert manifest3["heldout_examples"] == manifest["heldout_examples"]
    assert manifest3["documents"] == manifest["documents"]


def test_index_on_s3_is_read_in_place(classifier, samples_dir, tmp_path, monkeypatch):
    """An s3:// index (Common Crawl's own bucket layout) is read through pyarrow's S3 filesystem, not downloaded."""
    from tests.s3server import s3_bucket

    root, *_ = classifier
    cited, _ = wikiref.cited_urls(ingest_parts(str(samples_dir), root).wikipedia, recipe.WIKIREF_MAX_CITED_URLS)
    layout = loopback_index(samples_dir, list(cited), tmp_path / "commoncrawl")
    with s3_bucket(monkeypatch, "commoncrawl") as fs:
        with fs.open_output_stream(f"commoncrawl/{layout['index']}") as out:
            out.write((tmp_path / "commoncrawl" / layout["index"]).read_bytes())
        spec = "s3://commoncrawl/" + layout["index"].rsplit("/", 1)[0] + "/*.parquet"
        found = cc_index.lookup(cited, [spec], tmp_path / "cache", max_pages=1000)
    assert len(found) == LOOPBACK_PAGES + 4 + 1
    assert not (tmp_path / "cache" / "index").exists()


def test_cited_pages_already_in_the_inputs_are_positives_and_not_negatives(classifier, samples_dir, tmp_path):
    """A Wikipedia article (real text, its citations replaced by the URLs of 3 real crawled English pages of the
    inputs, the only made-up part) makes those 3 pages positives; none of them is then a random-web negative."""
    root, *_ = classifier
    inputs = ingest_parts(str(samples_dir), root)
    pages = list(wikiref._docs(inputs.web, wikiref.PAGE_COLUMNS))
    captures = Counter(p["url"] for p in pages)  # a URL crawled twice (two files of one site) is two pages
    long_pages = [d for d in pages if len(d["text"]) >= recipe.WIKIREF_MIN_POSITIVE_CHARS and captures[d["url"]] == 1][:3]
    article = next(doc for docs in sample_docs("wikipedia", str(samples_dir)).values() for doc in docs)
    article = {**article, "meta": json.dumps({"cited_urls": [p["url"] for p in long_pages]})}
    wiki = write_parts(tmp_path / "data", "ingest", "wikipedia", {"article": [article]})
    pools, info = wikiref.collect_examples(dataclasses.replace(inputs, wikipedia=wiki), default_params(min_positives=3))
    assert info["positives_source"] == "wikipedia_references"
    assert info["cited_pages_in_inputs"] == info["cited_pages_used"] == info["web_pages_excluded_as_cited"] == 3
    negatives = {e.doc_id for (label, _), pool in pools.pools.items() if label == wikiref.NEGATIVE
                 for _, _, e in pool.items()}
    assert negatives and not negatives & {p["id"] for p in long_pages}


@pytest.mark.slow
def test_classifier_asset_uses_the_configured_index_and_states_its_rule_and_counts(samples_dir, tmp_path):
    """The Dagster asset, configured with the loopback index: positives from cited pages, RedPajama's rule."""
    import dagster as dg

    from assets.resources import CorpusStorage
    from quality_models.wikiref_assets import wikiref_classifier

    data = tmp_path / "data"
    inputs = ingest_parts(str(samples_dir), data)
    cited, _ = wikiref.cited_urls(inputs.wikipedia, recipe.WIKIREF_MAX_CITED_URLS)
    layout = loopback_index(samples_dir, list(cited), tmp_path / "commoncrawl")
    with serve(tmp_path / "commoncrawl") as (base, _):
        config = {"cc_index": [f"{base}/{layout['index']}"], "warc_base": base, "min_positives": 30}
        result = dg.materialize([wikiref_classifier], resources={"corpus_storage": CorpusStorage(data_root=str(data))},
                                run_config={"ops": {"wikiref_classifier": {"config": config}}})
    assert result.success
    meta = {k: getattr(v, "value", v) for k, v in result.asset_materializations_for_node("wikiref_classifier")[0]
            .metadata.items()}
    assert meta["positives_source"] == "wikipedia_references" and meta["cited_pages_used"] == 48
    assert meta["keep_rule"] == "P(wiki-ref) >= 0.25 (RedPajama v1)" and meta["min_score"] == 0.25
    assert meta["heldout_positives"] == meta["heldout_negatives"] > 50
    assert meta["documents"]["train_wikiref_cc_index_cited"] > 0 and meta["documents"]["train_random_commoncrawl"] > 0
    current = json.loads((data / "models" / "wikiref" / "current.json").read_text())["version"]
    assert current == meta["version"]


def test_the_params_defaults_are_the_recipes():
    assert WikirefParams() == default_params()


def test_the_inputs_from_a_data_root_are_its_parts_and_the_first_snapshots_web_pages(samples_dir, tmp_path_factory):
    """What the asset trains on (``data_root_inputs``): the ingested Wikipedia and Books, Common Crawl after
    LID; the index and the LID of what it fetches only when an index is configured."""
    root = tmp_path_factory.getbasetemp() / "wikiref_shared" / "data"  # the classifier fixture's
    expected = ingest_parts(str(samples_dir), root)
    assert expected.wikipedia and expected.books and expected.web
    assert wikiref.data_root_inputs(Layout(root), [], recipe.WIKIREF_CC_WARC_BASE, 10) == expected
    indexed = wikiref.data_root_inputs(Layout(root), [str(root / "index" / "*.parquet")], "http://127.0.0.1:9/", 10)
    assert dataclasses.replace(indexed, cited_pages=None, lid=None) == expected and callable(indexed.cited_pages)
    assert isinstance(indexed.lid, langid_filter.LangIdFilter) and indexed.lid.source == "commoncrawl"
    assert indexed.lid.identifier.refiners_dir is None  # no langid_model refiners under this data root
    # a newer snapshot's pages are never negatives (the classifier, and what it filtered, stay as they were)
    parts = [Path(n) for n in ("CC-MAIN-2024-18__b.parquet", "CC-MAIN-2024-10__z.parquet", "CC-MAIN-2024-10__a.parquet")]
    assert wikiref.negative_parts(parts) == parts[1:] and wikiref.negative_parts([]) == []
