"""The mixture planner on a curated corpus built from real sample text (../shared/samples).

``write_sample_corpus`` is shared by the token-shard, training and asset tests: it writes curated
parts (stage ``near_dedup``) for four sources from real text (C4 records through the finished C4
reader; Gutenberg books cut into paragraph groups; Wikipedia article wikitext), so the sources differ
in size and some must repeat while others are subsampled.
"""
from __future__ import annotations

import bz2
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from corpus import mixture
from corpus.catalog import CURATED_STAGE
from corpus.recipe import MIXTURE_SHARES_PCT
from corpus.schema import new_document
from corpus.sources import c4
from corpus.storage import Layout, PartWriter
from corpus.schema import documents_to_batch

WIKI_DUMP = "wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def _paragraph_docs(path: Path, paras_per_doc: int, max_chars: int) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    docs, used = [], 0
    for i in range(0, len(paras), paras_per_doc):
        doc = "\n\n".join(paras[i:i + paras_per_doc])
        docs.append(doc)
        used += len(doc)
        if used >= max_chars:
            break
    return docs


def _wiki_docs(samples: Path, max_chars: int) -> list[str]:
    xml = bz2.open(samples / WIKI_DUMP, "rt", encoding="utf-8").read()
    docs, used = [], 0
    for m in re.finditer(r"<text[^>]*>(.*?)</text>", xml, re.S):
        body = m.group(1).strip()
        if len(body) < 2000 or body.lower().startswith("#redirect"):
            continue
        docs.append(body[:20000])
        used += len(docs[-1])
        if used >= max_chars:
            break
    return docs


def sample_documents(samples: Path, scale: float = 1.0) -> dict[str, list[dict]]:
    """Real documents per source; ``scale`` multiplies the character caps."""
    out: dict[str, list[dict]] = {}
    recs = []
    for f in c4.discover_inputs(samples / "c4"):
        recs += [r for r in c4.read_documents(f, f.name) if isinstance(r, dict)]
    out["c4"] = recs
    books = samples / "books"
    out["commoncrawl"] = [new_document("commoncrawl", f"pg1661:{i}", t) for i, t in enumerate(
        _paragraph_docs(books / "DerikGreeff__SMS-Assignment" / "pg1661.txt", 12, int(300_000 * scale)))]
    book_docs = _paragraph_docs(books / "DerikGreeff__SMS-Assignment" / "pg1342.txt", 40, int(160_000 * scale))
    book_docs += _paragraph_docs(books / "slavaburdun__Diploma" / "pg42671.txt", 40, int(40_000 * scale))
    out["books"] = [new_document("books", f"book:{i}", t) for i, t in enumerate(book_docs)]
    out["wikipedia"] = [new_document("wikipedia", f"enwiki:{i}", t) for i, t in enumerate(_wiki_docs(samples, int(100_000 * scale)))]
    return out


def write_sample_corpus(root: Path, samples: Path, scale: float = 1.0, parts_per_source: int = 2) -> dict[str, int]:
    """Write curated parts under ``root``; returns documents per source."""
    layout = Layout(root)
    counts = {}
    for source, docs in sample_documents(samples, scale).items():
        step = max(1, -(-len(docs) // parts_per_source))
        for k in range(0, len(docs), step):
            with PartWriter(layout, CURATED_STAGE, source, f"part{k // step:03d}", f"test-{source}-{k}") as w:
                w.write(documents_to_batch(docs[k:k + step]))
        counts[source] = len(docs)
    return counts


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory, samples_dir) -> Path:
    root = tmp_path_factory.mktemp("mixture") / "data"
    write_sample_corpus(root, samples_dir)
    return root


def _plan(root: Path, total=200_000, seed=0, sample_seed=0, shares=MIXTURE_SHARES_PCT):
    return mixture.make_plan(Layout(root), CURATED_STAGE, shares, total, seed, sample_seed)


def test_shares_hit_with_repeats_and_subsampling(corpus_root):
    plan, info = _plan(corpus_root)
    rep = plan.report()["sources"]
    achieved = plan.achieved_shares()
    live = {s: MIXTURE_SHARES_PCT[s] for s in ("commoncrawl", "c4", "books", "wikipedia")}
    for s, pct in live.items():
        target = 100 * pct / sum(live.values())
        assert abs(100 * achieved[s] - target) < 1.0, (s, achieved[s], target)
        assert rep[s]["target_share_pct"] == pytest.approx(target, abs=1e-3)
    # the budget is such that the small sources repeat and the large ones are subsampled
    assert rep["c4"]["epochs"] > 1 and rep["c4"]["full_passes"] >= 1
    assert rep["books"]["epochs"] < 1 and rep["wikipedia"]["epochs"] < 1
    epochs = plan.table.column("epoch").to_numpy()
    c4_rows = plan.table.filter(plan.table.column("source").to_numpy(zero_copy_only=False) == "c4")
    assert c4_rows.column("epoch").to_numpy().max() >= 1 and epochs.min() == 0
    # total lands on the budget (every source lands on its target, up to one token each)
    planned = sum(r["planned_tokens"] for r in rep.values())
    assert abs(planned - 200_000) <= len(rep)


def test_missing_sources_are_reported_and_renormalised(corpus_root):
    plan, _ = _plan(corpus_root)
    missing = {"github", "arxiv", "stackexchange"}
    for s in missing:
        assert any(repr(s) in w and "renormalised" in w for w in plan.warnings), plan.warnings
        assert plan.sources[s].planned_tokens == 0
    assert set(plan.table.column("source").to_pylist()) == {"commoncrawl", "c4", "books", "wikipedia"}
    # a source with documents but no share is reported, not silently mixed in
    shares = {k: v for k, v in MIXTURE_SHARES_PCT.items() if k != "books"}
    plan2, _ = _plan(corpus_root, shares=shares)
    assert any("'books'" in w and "no share" in w for w in plan2.warnings)
    assert "books" not in set(plan2.table.column("source").to_pylist())


def test_plan_parquet_and_determinism(corpus_root):
    plan, info = _plan(corpus_root, seed=3)
    stored = pq.read_table(info["path"])
    assert stored.schema.names[:4] == ["id", "source", "split", "epoch"] and "text" not in stored.schema.names
    assert stored.equals(plan.table)
    again, info2 = _plan(corpus_root, seed=3)
    assert info2["sha256"] == info["sha256"]
    # another order seed: same rows (same multiset), another order
    other, _ = _plan(corpus_root, seed=4)
    key = lambda t: sorted(zip(t.column("id").to_pylist(), t.column("epoch").to_pylist(), t.column("take_tokens").to_pylist()))
    assert key(other.table) == key(plan.table)
    assert other.table.column("id").to_pylist() != plan.table.column("id").to_pylist()
    # another sample seed: other documents in the partial passes and the held-out split
    resampled, _ = _plan(corpus_root, seed=3, sample_seed=1)
    assert key(resampled.table) != key(plan.table)


def test_validation_documents_are_held_out(corpus_root):
    plan, _ = _plan(corpus_root)
    t = plan.table
    split = np.asarray(t.column("split").to_pylist())
    ids = np.asarray(t.column("id").to_pylist())
    val, train = set(ids[split == "val"]), set(ids[split == "train"])
    assert val and not (val & train)
    assert len(ids[split == "val"]) == len(val)  # once each, never repeated
    # sources below the minimum document count hold nothing out; the others hold out enough tokens
    # for a stable loss (or the 10% document cap), never one document bigger than the target
    val_tokens = {}
    for row in t.filter(t.column("split").to_numpy(zero_copy_only=False) == "val").to_pylist():
        val_tokens[row["source"]] = val_tokens.get(row["source"], 0) + row["tokens"]
    policy = mixture.HeldOutPolicy()
    for s, r in plan.sources.items():
        if r.docs and r.docs < policy.min_docs:
            assert r.val_docs == 0
        elif r.docs:
            cap = max(1, int(r.docs * policy.max_docs_fraction))
            assert r.val_docs == cap or val_tokens[s] >= policy.min_tokens, (s, r.val_docs, val_tokens.get(s))


def _pool(ids: list[str], tokens: list[int]) -> mixture.DocPool:
    return mixture.DocPool.from_lists(ids, tokens, [4 * t for t in tokens])


def test_heldout_policy_takes_enough_tokens_but_never_one_giant_document():
    # 40 documents: one 50k-token article and 39 of 300 tokens (4 chars per token)
    pool = _pool(["giant"] + [f"d{i:02d}" for i in range(39)], [50_000] + [300] * 39)
    policy = mixture.HeldOutPolicy(fraction=0.01, min_tokens=1000, max_docs_fraction=0.1, min_docs=10)
    for sample_seed in range(20):
        held = pool.ids[policy.mask(pool, "web", sample_seed)]
        assert "giant" not in held  # larger than the whole target: passed over, whatever the seed
        assert len(held) == 4  # 1% of 61.7k tokens = 617 < 1000 -> 4 documents of 300 reach 1000
    capped = mixture.HeldOutPolicy(fraction=0.01, min_tokens=100_000, max_docs_fraction=0.1, min_docs=10)
    assert capped.mask(pool, "web", 0).sum() == 4  # never more than 10% of the 40 documents
    assert mixture.HeldOutPolicy(fraction=0).mask(pool, "web", 0).sum() == 0
    assert mixture.HeldOutPolicy(min_docs=41).mask(pool, "web", 0).sum() == 0
    # chosen on characters: exact token counts (any) pick the same documents as the estimate
    exact = pool.with_tokens(np.arange(len(pool)) * 7 + 1)
    assert (policy.mask(exact, "web", 3) == policy.mask(pool, "web", 3)).all()


def test_partial_pass_cuts_the_last_document():
    pools = {"a": _pool(["a1", "a2"], [1000, 1000]), "b": _pool([f"b{i}" for i in range(3)], [10, 20, 30])}
    plan = mixture.plan_mixture(pools, {"a": 50.0, "b": 50.0}, 1000, seed=0, sample_seed=0,
                                heldout=mixture.HeldOutPolicy(fraction=0))
    rep = plan.report()["sources"]
    assert rep["a"]["planned_tokens"] == 500 and rep["a"]["full_passes"] == 0
    a_rows = plan.table.filter(plan.table.column("source").to_numpy(zero_copy_only=False) == "a").to_pylist()
    assert len(a_rows) == 1 and a_rows[0]["take_tokens"] == 499  # a 1000-token book cut to its share
    # b: 63 tokens available (EOS included), 500 wanted: 7 whole passes + a partial one
    assert rep["b"]["full_passes"] == 7 and rep["b"]["planned_tokens"] == 500
    assert rep["b"]["epochs"] == pytest.approx(500 / 63, abs=1e-3)


def test_empty_source_does_not_crash():
    pools = {"a": _pool(["a1"], [100]), "b": _pool([], [])}
    plan = mixture.plan_mixture(pools, {"a": 50.0, "b": 50.0, "c": 10.0}, 300, seed=0, sample_seed=0)
    assert plan.achieved_shares()["a"] == 1.0
    assert len(plan.warnings) == 2 and plan.sources["b"].planned_tokens == 0
