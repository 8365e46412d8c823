"""Tokenizer and token shards on real sample text: shares, determinism, seeds, staleness, layout."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from corpus import mixture, shards, token_cache, tokenizer, tokens
from corpus.catalog import CURATED_STAGE
from corpus.recipe import MIXTURE_SHARES_PCT
from corpus.storage import Layout
from tests.corpus.test_mixture import write_sample_corpus

VOCAB = 4096
TOTAL = 200_000


def build(root: Path, seed: int = 0, sample_seed: int = 0, shard_tokens: int = 50_000, total: int = TOTAL,
          vocab: int = VOCAB, force: bool = False) -> dict:
    layout = Layout(root)
    mixture.make_plan(layout, CURATED_STAGE, MIXTURE_SHARES_PCT, total, seed, sample_seed)
    tokens.build_tokenizer(layout, CURATED_STAGE, mixture.plan_path(layout), vocab, 2_000_000)
    return tokens.build_token_shards(layout, CURATED_STAGE, mixture.plan_path(layout), tokens.tokenizer_dir(layout),
                                     layout.shards, shard_tokens, log=lambda m: None, force=force)


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory, samples_dir) -> Path:
    root = tmp_path_factory.mktemp("tokens") / "data"
    write_sample_corpus(root, samples_dir)
    return root


@pytest.fixture(scope="module")
def built(corpus_root) -> dict:
    return build(corpus_root)


def test_tokenizer_is_llama_style(corpus_root, built):
    digest, path = tokenizer.latest_tokenizer(tokens.tokenizer_dir(Layout(corpus_root)))
    assert path == corpus_root / "models" / "tokenizer" / digest / "tokenizer.json"
    tok = tokenizer.load_tokenizer(path)
    assert [tok.token_to_id(t) for t in tokenizer.SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert tok.get_vocab_size() <= VOCAB
    text = "In 1813, 42 readers paid £3 — 日本語 too."
    enc = tok.encode(text, add_special_tokens=False)
    assert tok.decode(enc.ids) == text  # lossless: unseen characters fall back to bytes, never <unk>
    assert 0 not in enc.ids
    assert {"1", "8", "3"} <= set(enc.tokens) and "13" not in enc.tokens  # digits split one by one
    assert any(t.startswith("<0x") for t in enc.tokens)


def test_manifest_and_memmap(corpus_root, built):
    m = built
    out = corpus_root / "shards"
    assert m["dtype"] == "uint16" and m["vocab_size"] <= VOCAB and m["eos_id"] == 2
    assert set(m["sources"]) == {"commoncrawl", "c4", "books", "wikipedia"}
    train = [s for s in m["shards"] if s["split"] == "train"]
    val = [s for s in m["shards"] if s["split"] == "val"]
    assert len(train) >= 4 and len(val) == 1  # 50k-token shards over ~200k tokens
    for s in m["shards"]:
        data = np.memmap(out / s["path"], dtype=np.dtype(m["dtype"]), mode="r")  # the one-line reader
        assert len(data) == s["tokens"]
        assert hashlib.sha256((out / s["path"]).read_bytes()).hexdigest() == s["sha256"]
        assert data.max() < m["vocab_size"]
    assert sum(s["tokens"] for s in train) == m["train_tokens"] == sum(m["sources"].values())
    assert m["tokenizer"]["hash"] and m["catalog_snapshot"] and m["seed"] == 0
    # EOS after every document: as many EOS in train as there are train rows in the exact plan
    plan = mixture.pq.read_table(corpus_root / "work" / "mixture" / "plan_exact.parquet")
    n_train = sum(1 for s in plan.column("split").to_pylist() if s == "train")
    eos = sum(int((np.memmap(out / s["path"], dtype=np.uint16, mode="r") == m["eos_id"]).sum()) for s in train)
    assert eos == n_train
    assert 0 < m["unigram_entropy_nats"] < np.log(m["vocab_size"])
    # the held-out documents' spans: in split order, contiguous, each ending with EOS, sources as the plan's
    docs = m["val_documents"]
    val_rows = plan.filter(mixture.pc.equal(plan.column("split"), "val")).sort_by("order")
    assert [d[0] for d in docs] == val_rows.column("source").to_pylist()
    assert [d[1] for d in docs] == list(np.cumsum([0] + [d[2] for d in docs[:-1]]))
    assert sum(d[2] for d in docs) == m["val_tokens"]
    assert {s: sum(d[2] for d in docs if d[0] == s) for s in m["val_sources"]} == m["val_sources"]
    vdata = np.concatenate([np.memmap(out / s["path"], dtype=np.uint16, mode="r") for s in val])
    assert all(vdata[a + n - 1] == m["eos_id"] for _, a, n in docs)


def test_exact_shares_within_one_point(built):
    m = built
    live = {s: MIXTURE_SHARES_PCT[s] for s in m["sources"]}
    for s, pct in live.items():
        target = pct / sum(live.values())
        assert m["weights"][s] == pytest.approx(target, abs=1e-5)
        assert abs(m["achieved_shares"][s] - target) < 0.01, (s, m["achieved_shares"][s], target)
    assert m["epochs"]["commoncrawl"] > 1 and m["epochs"]["c4"] > 1  # repeated
    assert m["epochs"]["books"] < 1 and m["epochs"]["wikipedia"] < 1  # subsampled
    assert any("github" in w for w in m["warnings"])
    assert abs(m["train_tokens"] - TOTAL) <= len(live)


def _docs_multiset(folder: Path, m: dict, split: str) -> list[bytes]:
    data = np.concatenate([np.fromfile(folder / s["path"], dtype=np.uint16) for s in m["shards"] if s["split"] == split])
    cuts = np.flatnonzero(data == m["eos_id"])
    return sorted(seg.tobytes() for seg in np.split(data, cuts + 1) if len(seg))


def test_rerun_is_byte_identical_and_seed_changes_order_only(corpus_root, built, tmp_path, samples_dir):
    other = tmp_path / "data"
    write_sample_corpus(other, samples_dir)
    m2 = build(other)
    m1 = built
    assert [s["sha256"] for s in m1["shards"]] == [s["sha256"] for s in m2["shards"]]
    assert (corpus_root / "shards" / "manifest.json").read_bytes() == (other / "shards" / "manifest.json").read_bytes()
    # another order seed: other bytes, same multiset of documents (as token sequences), same counts
    m3 = build(other, seed=7)
    assert [s["sha256"] for s in m3["shards"]] != [s["sha256"] for s in m1["shards"]]
    assert m3["sources"] == m1["sources"] and m3["tokenizer"] == m1["tokenizer"]
    for split in ("train", "val"):
        assert _docs_multiset(other / "shards", m3, split) == _docs_multiset(corpus_root / "shards", m1, split)


def test_stale_shards_removed_and_current_skipped(tmp_path, samples_dir):
    root = tmp_path / "data"
    write_sample_corpus(root, samples_dir, scale=0.3)
    m = build(root, shard_tokens=10_000, total=60_000)
    out = root / "shards"
    assert len(list(out.glob("train_*.bin"))) == 6
    again = build(root, shard_tokens=10_000, total=60_000)
    assert again.get("skipped") and again["key"] == m["key"]
    (out / "train_000000.bin-tmp").write_bytes(b"x")  # not ours: untouched
    (out / "train_000001.bin.tmp-deadbeef").write_bytes(b"x")  # a temp a killed run left
    m2 = build(root, shard_tokens=40_000, total=60_000)
    names = sorted(p.name for p in out.glob("*.bin*"))
    assert names == sorted({s["path"] for s in m2["shards"]} | {"train_000000.bin-tmp"})
    assert json.loads((out / "manifest.json").read_text())["key"] == m2["key"] != m["key"]


def test_user_supplied_tokenizer(tmp_path, corpus_root, built):
    user = tmp_path / "mine.json"
    _, path = tokenizer.latest_tokenizer(tokens.tokenizer_dir(Layout(corpus_root)))
    shutil.copy(path, user)
    layout = Layout(tmp_path / "d2")
    info = tokens.build_tokenizer(layout, CURATED_STAGE, Path("unused"), VOCAB, 0, user_file=user)
    assert info["hash"].startswith("user-") and tokenizer.latest_tokenizer(tokens.tokenizer_dir(layout))[0] == info["hash"]
    assert (tokens.tokenizer_dir(layout) / info["hash"] / "tokenizer.json").read_bytes() == user.read_bytes()


def test_manifest_problems_name_each_damaged_shard(built, corpus_root, tmp_path):
    folder = tmp_path / "shards"
    shutil.copytree(corpus_root / "shards", folder)
    assert shards.manifest_problems(folder, shards.read_manifest(folder)) == []
    first, second, *_ = [s["path"] for s in built["shards"]]
    data = bytearray((folder / first).read_bytes())
    data[0] ^= 1
    (folder / first).write_bytes(bytes(data))
    with open(folder / second, "ab") as f:
        f.write(b"\0\0")
    (folder / "train_999999.bin").write_bytes(b"\0\0")
    problems = shards.manifest_problems(folder, shards.read_manifest(folder))
    assert problems == [f"{first}: sha256 differs from the manifest",
                        f"{second}: {(folder / second).stat().st_size:,} bytes, manifest says "
                        f"{(folder / second).stat().st_size - 2:,}",
                        "train_999999.bin: not in the manifest"]
    (folder / first).unlink()
    assert f"{first}: missing" in shards.manifest_problems(folder, shards.read_manifest(folder))
    (folder / "manifest.json").unlink()
    assert shards.manifest_problems(folder, shards.read_manifest(folder)) == [f"{folder / 'manifest.json'} does not exist"]


def test_megatron_dataset_read_back_by_megatron_core_matches_the_flat_shards(built, corpus_root):
    """Megatron-Core's own reader on the `.bin/.idx` beside the flat shards: the same tokens in the same
    order, one sequence per plan row ending with its EOS, the val spans of `val_documents`."""
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    out = corpus_root / "shards"
    m = built
    fmt = m["formats"]["megatron"]
    assert m["formats"]["flat"] == {"layout": "nanogpt", "files": "shards"}
    assert (fmt["layout"], fmt["version"], fmt["dtype"], fmt["dtype_code"]) == ("MMIDIDX", 1, "uint16", 8)
    assert sorted(fmt["datasets"]) == ["train", "val"]
    plan = mixture.pq.read_table(corpus_root / "work" / "mixture" / "plan_exact.parquet")
    for split in ("train", "val"):
        entry = fmt["datasets"][split]
        for kind in ("bin", "idx"):
            f = entry[kind]
            assert f["path"] == f"megatron/{split}.{kind}"
            assert hashlib.sha256((out / f["path"]).read_bytes()).hexdigest() == f["sha256"]
            assert (out / f["path"]).stat().st_size == f["bytes"]
        ds = IndexedDataset(str(out / "megatron" / split))
        flat = np.concatenate([np.fromfile(out / s["path"], dtype=np.uint16) for s in m["shards"] if s["split"] == split])
        rows = sum(1 for s in plan.column("split").to_pylist() if s == split)
        assert len(ds) == rows == entry["sequences"] > 0
        assert ds.index.dtype == np.uint16 and entry["tokens"] == len(flat) == int(ds.sequence_lengths.sum())
        assert np.array_equal(ds.get_document_indices(), np.arange(rows + 1))
        sequences = [ds[i] for i in range(len(ds))]
        assert all(seq[-1] == m["eos_id"] and m["eos_id"] not in seq[:-1] for seq in sequences)
        assert np.array_equal(np.concatenate(sequences), flat)
        ends = np.cumsum(ds.sequence_lengths)
        assert np.array_equal(ends - 1, np.flatnonzero(flat == m["eos_id"]))  # boundaries = the flat EOS
        assert np.array_equal(ds.index.sequence_pointers, (ends - ds.sequence_lengths) * 2)
    val = IndexedDataset(str(out / "megatron" / "val"))
    starts = np.cumsum(val.sequence_lengths) - val.sequence_lengths
    assert [[int(a), int(n)] for a, n in zip(starts, val.sequence_lengths)] == [d[1:] for d in m["val_documents"]]


def test_document_ranges_encoded_in_any_order_merge_into_the_same_cache(corpus_root, built, tmp_path):
    """Each range (a curated part's needed documents) encoded on its own, here last range first as a
    worker pool may finish them, and merged in range order: the cache bytes and index of one sequential
    pass, and the tokens the shards were gathered from."""
    layout = Layout(corpus_root)
    tok_path = tokenizer.latest_tokenizer(tokens.tokenizer_dir(layout))[1]
    tok = tokenizer.load_tokenizer(tok_path)
    parts = mixture.curated_parts(layout, CURATED_STAGE)
    plan = mixture.pq.read_table(corpus_root / "work" / "mixture" / "plan_exact.parquet")
    needed: dict[str, set[str]] = {}
    for s, i in zip(plan.column("source").to_pylist(), plan.column("id").to_pylist()):
        needed.setdefault(s, set()).add(i)
    sequential = token_cache.TokenCache(tmp_path / "sequential", tok_path)
    assert sequential.encode(parts, needed) == sum(len(v) for v in needed.values())
    merged = token_cache.TokenCache(tmp_path / "merged", tok_path)
    ranges = merged.ranges(parts, needed)
    # one range per part holding needed documents, carrying that part's needed ids only (a task's payload)
    holding = [(s, p) for s in sorted(needed) for p in parts[s]
               if set(mixture.pq.read_table(p, columns=["id"]).column("id").to_pylist()) & needed[s]]
    assert [(r.source, r.part) for r in ranges] == holding and len(ranges) > 4
    assert sorted(i for r in ranges for i in r.ids.to_pylist()) == sorted(i for v in needed.values() for i in v)
    results = {k: token_cache.encode_range(tok, r, tmp_path / f"range-{k}.u32") for k, r in reversed(list(enumerate(ranges)))}
    for k in range(len(ranges)):
        merged.append(*results[k], tmp_path / f"range-{k}.u32")
    assert merged.index == sequential.index and merged.path.read_bytes() == sequential.path.read_bytes()
    assert not list(tmp_path.glob("range-*.u32"))
    # the shards' documents are these tokens: the first train shard starts with the plan's first document
    first = plan.filter(pc.equal(plan.column("split"), "train")).column("id")[0].as_py()
    start, n = merged.index[first]
    shard = np.fromfile(corpus_root / "shards" / built["shards"][0]["path"], dtype=np.dtype(built["dtype"]))
    assert np.array_equal(shard[:n], merged.tokens()[start:start + n])
