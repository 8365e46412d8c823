"""KenLM model training on the real Wikipedia samples: versioning, reuse, held-out perplexity.

The helpers at the top turn the real samples into ingest parts for these tests (and the filter
tests import them). They use the project's readers when those exist; while a reader is still a
placeholder (raises NotImplementedError) a TEMPORARY minimal extraction of the same real files
stands in (lxml + mwparserfromhell for Wikipedia, fastwarc + resiliparse for CommonCrawl).
"""
import bz2
import functools
import json
import re
from pathlib import Path

import pytest

from corpus import recipe
from corpus.inputs import part_name
from corpus.schema import Drop, new_document
from corpus.sources import reader
from corpus.stage import ingest_part
from corpus.storage import Layout, PartWriter
from quality_models import kenlm_model
from quality_models.kenlm_model import KenlmParams, is_heldout

WIKI_LANG = re.compile(r"^([a-z]{2,3})wiki")


def _reader_docs(source: str, root: Path) -> dict[str, list[dict]] | None:
    """{part: documents} from the project's reader, or None while it is a placeholder."""
    module = reader(source)
    try:
        out = {}
        for f in module.discover_inputs(root):
            out[part_name(root, f)] = [r for r in module.read_documents(f, part_name(root, f)) if not isinstance(r, Drop)]
        return out or None
    except NotImplementedError:
        return None


def _temporary_wikipedia(root: Path) -> dict[str, list[dict]]:
    """TEMPORARY stand-in for corpus/sources/wikipedia.py (same contract: lang, meta.title, meta.cited_urls)."""
    import mwparserfromhell
    from lxml import etree

    out = {}
    for f in sorted(root.rglob("*.bz2")):
        name = part_name(root, f)
        lang = WIKI_LANG.match(f.name).group(1)  # enwiki-..., dewiki.xml.bz2 (the XML header says "en" for all)
        docs = []
        for _, page in etree.iterparse(bz2.open(f), tag="{*}page"):
            if page.findtext("{*}ns") == "0" and page.find("{*}redirect") is None:
                code = mwparserfromhell.parse(page.findtext("{*}revision/{*}text") or "")
                urls = sorted({str(link.url) for link in code.filter_external_links()})
                text = re.sub(r"\n{3,}", "\n\n", code.strip_code()).strip()
                if text:
                    docs.append(new_document("wikipedia", f"{name}:{page.findtext('{*}id')}", text, lang=lang,
                                             meta={"title": page.findtext("{*}title"), "cited_urls": urls}))
            page.clear()
        out[name] = docs
    return out


def _temporary_books(root: Path) -> dict[str, list[dict]]:
    """TEMPORARY stand-in for corpus/sources/books.py: one document per file, text as is."""
    return {part_name(root, f): [new_document("books", part_name(root, f), f.read_text("utf-8-sig"), lang="en")]
            for f in sorted(root.rglob("*.txt"))}


def _temporary_commoncrawl(root: Path) -> dict[str, list[dict]]:
    """TEMPORARY stand-in for corpus/sources/commoncrawl.py: WARC HTML responses and WET records as text."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    out = {}
    for f in sorted(p for p in root.rglob("*.gz") if "bad_inputs" not in p.parts and not p.name.endswith(".wat.gz")):
        name, docs = part_name(root, f), []
        for rec in ArchiveIterator(open(f, "rb"), record_types=WarcRecordType.response | WarcRecordType.conversion):
            url = rec.headers.get("WARC-Target-URI")
            body = rec.reader.read()
            if rec.record_type == WarcRecordType.response:
                html = bytes_to_str(body.split(b"\r\n\r\n", 1)[-1], detect_encoding(body))
                text = extract_plain_text(html, main_content=False)
            else:
                text = body.decode("utf-8", "replace")
            if text.strip():
                docs.append(new_document("commoncrawl", f"{name}:{rec.record_id}", text.strip(), url=url))
        out[name] = docs
    return out


@functools.lru_cache(maxsize=None)
def sample_docs(source: str, samples: str) -> dict[str, list[dict]]:
    root = Path(samples) / source
    real = _reader_docs(source, root)
    if real is not None:
        return real
    return {"wikipedia": _temporary_wikipedia, "books": _temporary_books,
            "commoncrawl": _temporary_commoncrawl}[source](root)


def write_parts(data_root: Path, stage: str, source: str, parts: dict[str, list[dict]]) -> list[Path]:
    """Write documents as real stage parts (PartWriter), as the ingest asset would."""
    layout = Layout(data_root)
    for part, docs in parts.items():
        with PartWriter(layout, stage, source, part, f"test-{part}") as writer:
            ingest_part(writer, docs)
    return layout.docs_parts(stage, source)


def small_params(**kw) -> KenlmParams:
    defaults = dict(order=recipe.KENLM_ORDER, vocab_size=8000, holdout_fraction=recipe.KENLM_HOLDOUT_FRACTION,
                    min_train_lines=recipe.KENLM_MIN_TRAIN_LINES)
    return KenlmParams(**{**defaults, **kw})


@functools.lru_cache(maxsize=None)
def trained_models(samples: str, root: str) -> tuple[Path, dict]:
    """Train once per test session on every Wikipedia sample (the filter tests reuse it)."""
    parts = write_parts(Path(root), "ingest", "wikipedia", sample_docs("wikipedia", samples))
    layout = Layout(Path(root))
    folder, manifest, _ = kenlm_model.train_models(parts, layout.models, layout.work / "kenlm_text", small_params())
    kenlm_model.set_current(layout.models, kenlm_model.NAME, manifest["version"])
    return folder, manifest


@pytest.fixture(scope="session")
def kenlm_set(samples_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("kenlm") / "data"
    folder, manifest = trained_models(str(samples_dir), str(root))
    return root, folder, manifest


def test_trains_one_model_per_wikipedia_language_with_heldout_perplexity(kenlm_set):
    root, folder, manifest = kenlm_set
    assert folder == root / "models" / "perplexity" / manifest["version"]
    assert {"en", "de", "fr"} <= set(manifest["languages"])
    en = manifest["languages"]["en"]
    assert en["train_lines"] > 1000 and en["heldout_lines"] > 100 and en["train_tokens"] > en["train_lines"]
    for lang, m in manifest["languages"].items():
        assert (folder / m["lm"]).stat().st_size > 0 and (folder / m["tokenizer"]).exists()
        # a 5-gram model of its own language: held-out text is far from uniform over the vocabulary
        assert 1 < m["heldout_perplexity"] < m["vocab_size"], lang
    assert not list(folder.parent.glob("*.tmp-*"))  # written atomically
    assert kenlm_model.current_dir(root / "models", "perplexity") == folder


def test_same_data_and_params_reuse_the_model_and_other_params_make_a_new_version(kenlm_set, samples_dir):
    root, folder, manifest = kenlm_set
    layout = Layout(root)
    parts = layout.docs_parts("ingest", "wikipedia")
    mtime = (folder / "manifest.json").stat().st_mtime_ns
    again, manifest2, reused = kenlm_model.train_models(parts, layout.models, layout.work / "t2", small_params())
    assert reused and again == folder and manifest2["version"] == manifest["version"]
    assert (folder / "manifest.json").stat().st_mtime_ns == mtime
    other, manifest3, reused3 = kenlm_model.train_models(parts, layout.models, layout.work / "t3",
                                                         small_params(order=3, languages=("fr",)))
    assert not reused3 and other != folder and set(manifest3["languages"]) == {"fr"}


def test_heldout_split_is_deterministic_and_close_to_its_fraction():
    keys = [f"wikipedia-abc:{i}" for i in range(20000)]
    held = [is_heldout(k, 0.1) for k in keys]
    assert held == [is_heldout(k, 0.1) for k in keys]
    assert 0.09 < sum(held) / len(keys) < 0.11


def test_missing_kenlm_binaries_give_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CORPUS_KENLM_BIN", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="lmplz.*scripts/setup.sh"):
        kenlm_model.kenlm_bin("lmplz")


def test_manifest_is_json_with_parameters(kenlm_set):
    _, folder, manifest = kenlm_set
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk == manifest and on_disk["params"]["order"] == recipe.KENLM_ORDER
