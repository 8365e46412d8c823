"""The tokens and training assets materialized by Dagster on a curated corpus built from real sample text."""
from __future__ import annotations

import json

import dagster as dg
import pyarrow.compute as pc

from assets import checks
from assets.resources import CorpusStorage
from assets.tokens import mixture_asset, token_shards, tokenizer
from tests.corpus.test_mixture import write_sample_corpus
from training.assets import pretrained_model


SHARD_CHECKS = [checks.shard_manifest_checksums_valid, checks.mixture_shares_within_target]


def _check_results(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_mixture_tokenizer_shards_and_pretrain_assets(tmp_path, samples_dir):
    root = tmp_path / "data"
    write_sample_corpus(root, samples_dir, scale=0.3)
    resources = {"corpus_storage": CorpusStorage(data_root=str(root))}
    run_config = {"ops": {
        "mixture": {"config": {"total_tokens": 60_000}},
        "tokenizer": {"config": {"vocab_size": 1024}},
        "token_shards": {"config": {"shard_tokens": 25_000}},
        "pretrained_model": {"config": {"max_steps": 20, "batch_size": 4, "block_size": 32, "n_layer": 1,
                                        "d_model": 32, "n_head": 2, "n_kv_head": 1, "checkpoint_every": 10,
                                        "eval_batches": 2}},
    }}
    result = dg.materialize([mixture_asset, tokenizer, token_shards, pretrained_model, *SHARD_CHECKS],
                            resources=resources, run_config=run_config)
    assert result.success
    assert _check_results(result) == {"shard_manifest_checksums_valid": True, "mixture_shares_within_target": True}
    mats = {e.materialization.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}
    assert mats["mixture"]["token_count_method"].value.startswith("estimate")
    assert any("github" in w for w in mats["mixture"]["warnings"].value)
    assert mats["tokenizer"]["vocab_size"].value <= 1024
    shares = mats["token_shards"]["achieved_shares"].value
    targets = mats["token_shards"]["planned_shares"].value
    assert all(abs(shares[s] - targets[s]) < 0.01 for s in shares)
    manifest = json.loads((root / "shards" / "manifest.json").read_text())
    assert manifest["achieved_shares"] == shares
    model = mats["pretrained_model"]
    assert model["step"].value == 20 and model["loss_curve"].value.startswith("![loss curve](data:image/png;base64,")
    assert model["tokens_per_s"].value > 0 and model["unigram_entropy_nats"].value == manifest["unigram_entropy_nats"]

    # bit rot in a shard: same size, so token_shards counts as current and is skipped, but the checksum
    # check fails (severity ERROR) and the training step downstream never runs
    shard = root / "shards" / manifest["shards"][0]["path"]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    rerun = dg.materialize([mixture_asset, tokenizer, token_shards, pretrained_model, *SHARD_CHECKS],
                           resources=resources, selection=[token_shards, pretrained_model],
                           run_config={"ops": {k: run_config["ops"][k] for k in ("token_shards", "pretrained_model")}},
                           raise_on_error=False)
    assert _check_results(rerun) == {"shard_manifest_checksums_valid": False, "mixture_shares_within_target": True}
    [failed] = [e for e in rerun.get_asset_check_evaluations() if not e.passed]
    assert failed.severity == dg.AssetCheckSeverity.ERROR and "sha256" in failed.description
    assert {e.asset_key.to_user_string() for e in rerun.get_asset_materialization_events()} == {"token_shards"}
    assert not rerun.success


def test_definitions_hold_the_tokens_and_training_assets():
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"mixture", "tokenizer", "token_shards", "pretrained_model"} <= keys
    assert dg.AssetKey("corpus_catalog") in graph.get(dg.AssetKey("mixture")).parent_keys
    assert dg.AssetKey("token_shards") in graph.get(dg.AssetKey("pretrained_model")).parent_keys


def test_mixture_counts_with_a_tokenizer_when_asked(tmp_path, samples_dir):
    """``count_with_tokenizer``: each source's pool is the tokenizer's exact count of its documents (each plus
    its EOS), not characters / 4; a BPE tokenizer trained here on one real Gutenberg book."""
    import pyarrow.parquet as pq
    from tokenizers import Tokenizer

    from corpus import mixture
    from corpus.catalog import CURATED_STAGE
    from corpus.storage import Layout, read_table
    from corpus.tokenizer import train_tokenizer

    root = tmp_path / "data"
    write_sample_corpus(root, samples_dir, scale=0.3)
    book = (samples_dir / "books" / "slavaburdun__Diploma" / "pg42671.txt").read_text(encoding="utf-8")
    path = train_tokenizer(lambda: book.split("\n\n"), 1024, tmp_path / "tok")["path"]
    result = dg.materialize([mixture_asset], resources={"corpus_storage": CorpusStorage(data_root=str(root))},
                            run_config={"ops": {"mixture": {"config": {"total_tokens": 60_000,
                                                                       "count_with_tokenizer": str(path)}}}})
    md = result.asset_materializations_for_node("mixture")[0].metadata
    assert md["token_count_method"].value == f"exact ({path})"
    plan = pq.read_table(md["path"].value)
    report = mixture.plan_report(mixture.plan_path(Layout(root)))["sources"]
    assert plan.num_rows == 68
    assert {s: r["available_tokens"] for s, r in report.items() if r["available_tokens"]} == {
        "books": 29177, "c4": 22680, "commoncrawl": 37099, "wikipedia": 23503}
    # the same figures from the tokenizer itself: a train pool is its documents' exact counts, EOS included
    tok = Tokenizer.from_file(str(path))
    val = set(plan.filter(pc.equal(plan.column("split"), "val")).column("id").to_pylist())
    for source in ("books", "c4"):
        docs = read_table(Layout(root).docs_parts(CURATED_STAGE, source), columns=["id", "text"]).to_pylist()
        exact = sum(len(tok.encode(d["text"], add_special_tokens=False).ids) + 1 for d in docs if d["id"] not in val)
        assert exact == report[source]["available_tokens"]
