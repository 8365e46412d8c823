"""KenLM model training on the real Wikipedia samples: versioning, reuse, held-out perplexity.

The helpers at the top turn the real samples into ingest parts for these tests (and the filter
tests import them), with the project's own readers: a reader that yields no document fails here,
loudly, rather than letting the tests run on something else.
"""
import functools
import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from corpus import recipe
from corpus.filters import perplexity as ppl
from corpus.inputs import DownloadError, part_name, sha256_file
from corpus.schema import Drop, new_document
from corpus.sources import reader
from corpus.part_runners import ingest_part
from corpus.storage import Layout, PartWriter
from corpus.sampling import PrioritySample
from quality_models import kenlm_model, store
from quality_models.kenlm_model import KenlmParams, is_heldout
from tests import web_pages
from tests.httpserver import serve


@functools.lru_cache(maxsize=None)
def sample_docs(source: str, samples: str) -> dict[str, list[dict]]:
    """{part: documents} of the source's samples, read by the project's reader (its drops left out)."""
    root = Path(samples) / source
    module = reader(source)
    out, drops = {}, {}
    for f in module.discover_inputs(root):
        name = part_name(root, f)
        records = list(module.read_documents(f, name))
        out[name] = [r for r in records if not isinstance(r, Drop)]
        drops[name] = sorted({r.reason for r in records if isinstance(r, Drop)})
    if not any(out.values()):
        raise AssertionError(f"the {source} reader yielded no document from {root} "
                             f"(inputs found: {len(out)}; drop reasons per input: {drops})")
    return out


def write_parts(data_root: Path, stage: str, source: str, parts: dict[str, list[dict]]) -> list[Path]:
    """Write documents as real stage parts (PartWriter), as the ingest asset would."""
    layout = Layout(data_root)
    for part, docs in parts.items():
        with PartWriter(layout, stage, source, part, f"test-{part}") as writer:
            ingest_part(writer, docs)
    return layout.docs_parts(stage, source)


def small_params(**kw) -> KenlmParams:
    defaults = dict(order=recipe.KENLM_ORDER, vocab_size=recipe.KENLM_TOKENIZER_VOCAB,
                    holdout_fraction=recipe.KENLM_HOLDOUT_FRACTION, min_train_lines=recipe.KENLM_MIN_TRAIN_LINES,
                    reference_max_docs=recipe.PERPLEXITY_REFERENCE_MAX_DOCS,
                    max_train_lines=recipe.KENLM_MAX_TRAIN_LINES, tokenizer_max_lines=recipe.KENLM_TOKENIZER_MAX_LINES)
    return KenlmParams(**{**defaults, **kw})


def web_reference_parts(root: Path, samples: str) -> dict[str, list[Path]]:
    """The "reference" hash half of the real English pages (tests/web_pages.py) as c4 ingest parts: the
    model is calibrated on them, and the tests evaluate it on the other half only."""
    docs = [new_document("c4", f"reference:{p['id']}", p["text"], lang="en")
            for p in web_pages.real_english_pages(samples, "reference")]
    return {"en": write_parts(root, "ingest", "c4", {"reference-half": docs})}


@functools.lru_cache(maxsize=None)
def trained_models(samples: str, root: str) -> tuple[Path, dict]:
    """Train once per test session on every Wikipedia sample (the filter tests reuse it)."""
    parts = write_parts(Path(root), "ingest", "wikipedia", sample_docs("wikipedia", samples))
    layout = Layout(Path(root))
    folder, manifest, _ = kenlm_model.train_models(parts, layout.models, layout.work / "kenlm_text", small_params(),
                                                   web_reference=web_reference_parts(Path(root), samples))
    store.set_current(layout.models, kenlm_model.NAME, manifest["version"])
    return folder, manifest


def shared_root(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "kenlm_shared" / "data"


@pytest.fixture(scope="session")
def kenlm_set(samples_dir, tmp_path_factory):
    root = shared_root(tmp_path_factory)
    folder, manifest = trained_models(str(samples_dir), str(root))
    return root, folder, manifest


CCNET_FORMAT_VOCAB = 16_000


@functools.lru_cache(maxsize=None)
def ccnet_format_models(samples: str, out: str) -> Path:
    """A model folder in the format of CCNet's releases, built here with the SentencePiece trainer and
    KenLM's ``lmplz``/``build_binary`` (not with the project's trainer): ``en.sp.model`` + ``en.arpa.bin``
    on the English Wikipedia sample's lines that training holds in (the held-out ones stay unseen), with a
    smaller vocabulary than the project's models so that the two differ."""
    import sentencepiece

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for doc in web_pages.wikipedia_documents(samples):
        if doc["lang"] == "en":
            lines += [line for i, line in enumerate(ppl.normalized_lines(doc["text"]))
                      if not is_heldout(f"{doc['id']}:{i}", recipe.KENLM_HOLDOUT_FRACTION)]
    (folder / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    sentencepiece.SentencePieceTrainer.train(input=str(folder / "train.txt"), model_prefix=str(folder / "en.sp"),
                                             vocab_size=CCNET_FORMAT_VOCAB, model_type="unigram",
                                             hard_vocab_limit=False, num_threads=2, minloglevel=2)
    sp = sentencepiece.SentencePieceProcessor(model_file=str(folder / "en.sp.model"))
    tokenized = "\n".join(" ".join(sp.encode_as_pieces(line)) for line in lines) + "\n"
    arpa = subprocess.run([str(kenlm_model.kenlm_bin("lmplz")), "-o", "5", "--discount_fallback", "-S", "256M",
                           "-T", str(folder)], input=tokenized.encode(), capture_output=True, check=True).stdout
    (folder / "en.arpa").write_bytes(arpa)
    subprocess.run([str(kenlm_model.kenlm_bin("build_binary")), str(folder / "en.arpa"), str(folder / "en.arpa.bin")],
                   capture_output=True, check=True)
    for tmp in ("train.txt", "en.arpa", "en.sp.vocab"):
        (folder / tmp).unlink()
    return folder


@pytest.fixture(scope="session")
def ccnet_release(samples_dir, tmp_path_factory) -> Path:
    return ccnet_format_models(str(samples_dir), str(tmp_path_factory.getbasetemp() / "ccnet_release"))


def test_trains_one_model_per_wikipedia_language_with_heldout_perplexity(kenlm_set):
    root, folder, manifest = kenlm_set
    assert folder == root / "models" / "perplexity" / manifest["version"]
    assert {"en", "de", "fr"} <= set(manifest["languages"])
    assert manifest["kind"] == "trained"
    en = manifest["languages"]["en"]
    assert en["train_lines"] > 1000 and en["heldout_lines"] > 100 and en["train_tokens"] > en["train_lines"]
    for lang, m in manifest["languages"].items():
        assert (m["sp"], m["lm"]) == (f"{lang}.sp.model", f"{lang}.arpa.bin")  # CCNet's released file names
        assert (folder / m["lm"]).stat().st_size > 0 and (folder / m["sp"]).exists()
        assert 0 < m["tokenizer_seconds"] <= m["seconds"] and m["vocab_size"] <= recipe.KENLM_TOKENIZER_VOCAB
        # a 5-gram model of its own language: held-out text is far from uniform over the vocabulary
        assert 1 < m["heldout_perplexity"] < m["vocab_size"], lang
    assert not list(folder.parent.glob("*.tmp-*"))  # written atomically
    assert store.current_dir(root / "models", "perplexity") == folder


def test_same_data_and_params_reuse_the_model_and_other_params_make_a_new_version(kenlm_set, samples_dir):
    root, folder, manifest = kenlm_set
    layout = Layout(root)
    parts = layout.docs_parts("ingest", "wikipedia")
    mtime = (folder / "manifest.json").stat().st_mtime_ns
    web = web_reference_parts(root, str(samples_dir))
    again, manifest2, reused = kenlm_model.train_models(parts, layout.models, layout.work / "t2", small_params(),
                                                        web_reference=web)
    assert reused and again == folder and manifest2["version"] == manifest["version"]
    assert (folder / "manifest.json").stat().st_mtime_ns == mtime
    other, manifest3, reused3 = kenlm_model.train_models(parts, layout.models, layout.work / "t3",
                                                         small_params(order=3, languages=("fr",)))
    assert not reused3 and other != folder and set(manifest3["languages"]) == {"fr"}


def test_the_sentencepiece_model_is_the_same_bytes_wherever_and_however_often_it_is_trained(samples_dir, tmp_path):
    """Published model files are content-addressed by their version: a rerun (another temp folder, another
    data root) must write the same bytes, so the model may not store the paths it was trained from."""
    lines = [line for doc in web_pages.wikipedia_documents(str(samples_dir)) if doc["lang"] == "en"
             for line in ppl.normalized_lines(doc["text"])]
    models = []
    for run in ("a.tmp-1234", "b.tmp-5678"):
        folder = tmp_path / run
        folder.mkdir()
        (folder / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        kenlm_model.train_tokenizer(folder / "train.txt", 2_000, folder / "en.sp.model")
        models.append((folder / "en.sp.model").read_bytes())
        assert sorted(p.name for p in folder.iterdir()) == ["en.sp.model", "train.txt"]  # no .vocab left
    assert len(lines) > 1000 and models[0] == models[1]
    assert b"tmp-" not in models[0] and str(tmp_path).encode() not in models[0]


def test_heldout_split_is_deterministic_and_close_to_its_fraction():
    keys = [f"wikipedia-abc:{i}" for i in range(20000)]
    held = [is_heldout(k, 0.1) for k in keys]
    assert held == [is_heldout(k, 0.1) for k in keys]
    assert 0.09 < sum(held) / len(keys) < 0.11


def test_training_text_is_a_bounded_hash_priority_sample_however_large_wikipedia_grows(samples_dir, tmp_path):
    """Ten copies (distinct ids) of the English Wikipedia sample give 10x its training lines, but the KenLM
    text stays at KENLM_MAX_TRAIN_LINES lines and the SentencePiece text at KENLM_TOKENIZER_MAX_LINES (the
    trainers' memory): the lines of lowest priority (a hash of <doc id>:<line>), in Wikipedia's order. The
    1x sample is under both bounds and is kept whole."""
    english = [d for docs in sample_docs("wikipedia", str(samples_dir)).values() for d in docs if d["lang"] == "en"]
    copies = {f"copy{c}": [new_document("wikipedia", f"copy{c}:{d['id']}", d["text"], lang="en") for d in english]
              for c in range(10)}
    params = small_params(languages=("en",))

    def train_lines(parts: dict[str, list[dict]]) -> list[tuple[int, str]]:
        """(priority, line) of every training (not held-out) line, in Wikipedia's order."""
        return [(kenlm_model.line_priority(f"{d['id']}:{i}"), line) for docs in parts.values() for d in docs
                for i, line in enumerate(ppl.normalized_lines(d["text"]))
                if not is_heldout(f"{d['id']}:{i}", params.holdout_fraction)]

    for name, parts in (("1x", {"copy0": copies["copy0"]}), ("10x", copies)):
        text = kenlm_model.collect_text(write_parts(tmp_path / name, "ingest", "wikipedia", parts),
                                        tmp_path / name / "text", params)["en"]
        lines = train_lines(parts)
        kenlm, tokenizer = (text.train.read_text(encoding="utf-8").splitlines(),
                            text.tokenizer.read_text(encoding="utf-8").splitlines())
        if name == "1x":
            assert text.available_lines == len(lines) == 10_525
            assert kenlm == tokenizer == [line for _, line in lines]
            continue
        assert text.available_lines == len(lines) == 104_937 and text.docs == 10 * len(english)
        assert (text.train_lines, text.tokenizer_lines) == (len(kenlm), len(tokenizer)) == (
            recipe.KENLM_MAX_TRAIN_LINES, recipe.KENLM_TOKENIZER_MAX_LINES)
        for sample, size in ((kenlm, recipe.KENLM_MAX_TRAIN_LINES), (tokenizer, recipe.KENLM_TOKENIZER_MAX_LINES)):
            lowest = set(sorted(p for p, _ in lines)[:size])
            assert sample == [line for p, line in lines if p in lowest]
        assert not list((tmp_path / name / "text").glob("*.unsampled"))


def test_missing_kenlm_binaries_give_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CORPUS_KENLM_BIN", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="lmplz.*scripts/setup.sh"):
        kenlm_model.kenlm_bin("lmplz")


def test_calibration_is_the_models_own_scores_of_heldout_wikipedia_and_reference_web_pages(kenlm_set, samples_dir):
    """Scored exactly as the filter scores documents; the web reference is the "reference" half only, and a
    language without reference pages carries its Wikipedia reference alone."""
    _, folder, manifest = kenlm_set
    scorer = ppl.PerplexityScorer(folder)
    reference = [p["text"] for p in web_pages.real_english_pages(str(samples_dir), "reference")]
    cal = manifest["languages"]["en"]["calibration"]
    assert cal["web"] == sorted(scorer.models["en"].perplexities(reference).tolist())
    assert len(cal["web"]) == len(reference) == 143
    assert len(cal["wikipedia"]) == 103 and cal["wikipedia"] == sorted(cal["wikipedia"])
    assert manifest["languages"]["en"]["web_reference_parts"] == ["reference-half.parquet"]
    de = manifest["languages"]["de"]["calibration"]
    assert de["web"] == [] and len(de["wikipedia"]) == 2  # the dewiki minidump's 2 documents with held-out lines


def test_bottom_k_sample_is_bounded_and_independent_of_order():
    items = [(f"doc-{i}", f"text {i}") for i in range(5000)]
    a, b = PrioritySample(50), PrioritySample(50)
    for doc_id, text in items:
        a.add(kenlm_model.id_priority(doc_id), doc_id, text)
    for doc_id, text in reversed(items):
        b.add(kenlm_model.id_priority(doc_id), doc_id, text)
    kept = [(doc_id, text) for _, doc_id, text in a.items()]
    assert a.items() == b.items() and len(kept) == 50
    want = sorted(items, key=lambda it: kenlm_model.xxhash.xxh3_64_intdigest(it[0].encode()))[:50]
    assert kept == want


def test_ccnet_release_is_fetched_from_a_loopback_url_cached_and_versioned(ccnet_release, tmp_path):
    models = tmp_path / "models"
    with serve(ccnet_release) as (url, hits):
        folder, manifest, reused = kenlm_model.fetch_ccnet_models(url, ["en"], models)
        assert sorted(h[0] for h in hits) == ["en.arpa.bin", "en.sp.model"] and not reused
        again, manifest2, reused2 = kenlm_model.fetch_ccnet_models(url, ["en"], models)
        assert len(hits) == 2 and reused2 and again == folder  # the cache answers: no second download
    assert manifest["kind"] == "ccnet" and manifest["source"] == url
    assert manifest["languages"]["en"]["sha256"]["sp"] == sha256_file(ccnet_release / "en.sp.model")
    assert (folder / "en.arpa.bin").read_bytes() == (ccnet_release / "en.arpa.bin").read_bytes()
    scorer = ppl.PerplexityScorer(folder)
    assert scorer.kind == "ccnet" and scorer.languages == ["en"] and scorer.calibration == {"en": {}}
    # a local folder of released files is a source too, and gives the same version
    local, manifest3, _ = kenlm_model.fetch_ccnet_models(str(ccnet_release), ["en"], tmp_path / "models2")
    assert manifest3["version"] == manifest["version"]


def test_ccnet_release_checksum_mismatch_and_missing_files_are_refused(ccnet_release, tmp_path):
    with serve(ccnet_release) as (url, _):
        with pytest.raises(DownloadError, match="sha256"):
            kenlm_model.fetch_ccnet_models(url, ["en"], tmp_path / "m", sha256={"en.sp.model": "0" * 64})
        with pytest.raises(DownloadError, match="HTTP 404"):
            kenlm_model.fetch_ccnet_models(url, ["de"], tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="de.sp.model"):
        kenlm_model.fetch_ccnet_models(str(ccnet_release), ["de"], tmp_path / "m")


def test_unreachable_ccnet_url_fails_fast_with_a_clear_error(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"from 127\.0\.0\.1:\d+ .*local folder"):
        kenlm_model.fetch_ccnet_models(f"http://127.0.0.1:{port}/cc_net/lm", ["en"], tmp_path / "m")
    assert time.monotonic() - started < 5


def test_manifest_is_json_with_parameters(kenlm_set):
    _, folder, manifest = kenlm_set
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk == manifest and on_disk["params"]["order"] == recipe.KENLM_ORDER


def test_the_params_defaults_are_the_recipes():
    assert KenlmParams() == small_params()


def test_the_data_roots_models_are_its_wikipedia_calibrated_on_its_reference_sources(kenlm_set):
    """``train_data_root_models`` (what the asset runs): the data root's ingested Wikipedia, English calibrated
    on the ingested c4 pages, is the set trained above from the same parts: reused, same version."""
    root, folder, manifest = kenlm_set
    again, manifest2, reused = kenlm_model.train_data_root_models(Layout(root), KenlmParams(), {"en": ["c4"]})
    assert (again, manifest2["version"], reused) == (folder, manifest["version"], True)
    assert manifest2["languages"]["en"]["web_reference_parts"] == ["reference-half.parquet"]


def test_the_models_table_has_a_row_per_language(kenlm_set, ccnet_release, tmp_path):
    _, _, manifest = kenlm_set
    """A trained set: each language's training and calibration figures; CCNet's release: only its languages."""
    _, _, manifest = kenlm_set
    lines = kenlm_model.models_markdown(manifest["languages"]).splitlines()
    assert lines[0].startswith("| lang | docs | train lines | train tokens | vocab | held-out perplexity | calibration")
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| de", "| en", "| fr", "| it", "| nl"]
    en = manifest["languages"]["en"]
    cells = ["| en", "106", "10510", str(en["train_tokens"]), str(en["vocab_size"]), str(en["heldout_perplexity"]),
             "103 / 143"]  # 106 documents, 103 of them held-out calibration, 143 reference web pages
    assert lines[3].startswith(" | ".join(cells) + " | ")
    _, release, _ = kenlm_model.fetch_ccnet_models(str(ccnet_release), ["en"], tmp_path / "models")
    assert kenlm_model.models_markdown(release["languages"]).splitlines()[2:] == ["| en | - | - | - | - | - | - | - | - |"]
