"""KenLM model training on the real Wikipedia samples: versioning, reuse, held-out perplexity.

The helpers at the top turn the real samples into ingest parts for these tests (and the filter
tests import them), with the project's own readers: a reader that yields no document fails here,
loudly, rather than letting the tests run on something else.
"""
import functools
import json
from pathlib import Path

import pytest

from corpus import recipe
from corpus.inputs import part_name
from corpus.schema import Drop
from corpus.sources import reader
from corpus.stage import ingest_part
from corpus.storage import Layout, PartWriter
from quality_models import kenlm_model
from quality_models.kenlm_model import KenlmParams, is_heldout


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
