"""Mixture, tokenizer and token shards: the end of the corpus pipeline (logic in corpus/mixture.py, corpus/tokens.py)."""

from pathlib import Path
from typing import Dict, Optional

import dagster as dg
import pydantic

from assets.catalog import corpus_catalog
from assets.config_base import ValidatedConfig, config_class, dataclass_fields, keyword_fields
from assets.resources import CorpusStorage
from assets.stages import step_summary
from corpus import funnel, mixture, tokens
from corpus.shards import MANIFEST
from corpus.tokenizer import token_counter
from corpus.recipe import MIXTURE_SAMPLE_SEED, MIXTURE_SEED, MIXTURE_SHARES_PCT, MIXTURE_TOTAL_TOKENS, SOURCES


class MixtureSettings(ValidatedConfig):
    """The plan's settings; ``MixtureConfig`` adds the held-out split's (``val_<field>`` of ``HeldOutPolicy``)."""

    shares_pct: Dict[str, float] = dict(MIXTURE_SHARES_PCT)
    total_tokens: int = pydantic.Field(default=MIXTURE_TOTAL_TOKENS, gt=0)
    seed: int = MIXTURE_SEED
    sample_seed: int = MIXTURE_SAMPLE_SEED
    # count tokens with this tokenizer.json instead of estimating characters / 4
    count_with_tokenizer: Optional[str] = None

    def heldout(self) -> mixture.HeldOutPolicy:
        return mixture.HeldOutPolicy(**{name: getattr(self, f"val_{name}") for name in dataclass_fields(mixture.HeldOutPolicy)})

    @pydantic.field_validator("shares_pct")
    @classmethod
    def _known_sources_and_non_negative_shares(cls, shares: Dict[str, float]) -> Dict[str, float]:
        if unknown := sorted(set(shares) - set(SOURCES)):
            raise ValueError(f"unknown source(s) {unknown}; known: {', '.join(SOURCES)}")
        if negative := {s: v for s, v in shares.items() if v < 0}:
            raise ValueError(f"shares must be >= 0, got {negative}")
        if sum(shares.values()) <= 0:
            raise ValueError("at least one share must be positive")
        return shares


MixtureConfig = config_class(
    "MixtureConfig", __name__, {f"val_{n}": f for n, f in dataclass_fields(mixture.HeldOutPolicy).items()},
    base=MixtureSettings, doc="The mixture's settings and its held-out split per source (corpus/mixture.py "
                              "HeldOutPolicy; val_fraction 0 = none).",
    bounds={"val_fraction": dict(ge=0, lt=1), "val_min_tokens": dict(ge=0), "val_max_docs_fraction": dict(gt=0, lt=1),
            "val_min_docs": dict(ge=1)})


def _shares_metadata(shares: dict, report: dict, missing: Dict[str, str]) -> dict:
    """The share table of a plan (``mixture.share_report`` rows, its ``report``, the missing sources and why)."""
    return {"target_shares_pct": dg.MetadataValue.json({s: r["target_pct"] for s, r in shares.items()}),
            "shares": dg.MetadataValue.md(mixture.shares_markdown(shares, report, missing)),
            "missing_sources": dg.MetadataValue.json(missing)}


@dg.asset(name="mixture", group_name="tokens", deps=[corpus_catalog], kinds={"parquet"})
def mixture_asset(context: dg.AssetExecutionContext, config: MixtureConfig, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """``work/mixture/plan.parquet``: (document id, source, split, epoch, order) giving each source its share."""
    layout = corpus_storage.layout()
    curated = corpus_storage.preset().curated_stage
    count = token_counter(Path(config.count_with_tokenizer)) if config.count_with_tokenizer else None
    plan, info = mixture.make_plan(layout, curated, config.shares_pct, config.total_tokens, config.seed,
                                   config.sample_seed, config.heldout(), count, config.count_with_tokenizer or "")
    for w in plan.warnings:
        context.log.warning(w)
    report = plan.report()
    shares = mixture.share_report(config.shares_pct, {s: r["planned_tokens"] for s, r in report["sources"].items()})
    missing = funnel.why_missing(layout, [s for s, r in shares.items() if r["missing"]], curated)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(info["path"]),
        "sha256": info["sha256"],
        "rows": plan.table.num_rows,
        "token_count_method": plan.count_method,
        "total_tokens_target": config.total_tokens,
        "achieved_shares": dg.MetadataValue.json({s: r["achieved_share_pct"] for s, r in report["sources"].items()}),
        "epochs": dg.MetadataValue.json({s: r["epochs"] for s, r in report["sources"].items()}),
        **_shares_metadata(shares, report, missing),
        "warnings": dg.MetadataValue.json(plan.warnings),
        "catalog_snapshot": info["catalog_snapshot"],
    })


class TokenizerFile(dg.Config):
    """A user's tokenizer.json instead of training one (a user path, Dagster wiring); ``TokenizerConfig``
    adds the training settings (``build_tokenizer``'s keyword arguments)."""

    tokenizer_path: Optional[str] = None


TokenizerConfig = config_class(
    "TokenizerConfig", __name__, keyword_fields(tokens.build_tokenizer, skip=("user_file",)), TokenizerFile,
    doc="The keyword arguments of ``corpus.tokens.build_tokenizer`` (defaults: corpus/recipe.py), or a user's file.")


@dg.asset(group_name="tokens", deps=[mixture_asset], kinds={"huggingface"})
def tokenizer(context: dg.AssetExecutionContext, config: TokenizerConfig, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """``models/tokenizer/<hash>/tokenizer.json``: LLaMA-style BPE trained on a sample of the planned documents."""
    layout = corpus_storage.layout()
    user = Path(config.tokenizer_path) if config.tokenizer_path else None
    info = tokens.build_tokenizer(layout, corpus_storage.preset().curated_stage, mixture.plan_path(layout),
                                  **config.model_dump(exclude={"tokenizer_path"}), user_file=user)
    if info["vocab_size"] < config.vocab_size and user is None:
        context.log.warning(f"the sample yields a vocabulary of {info['vocab_size']:,}, below the {config.vocab_size:,} asked")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(info["path"])),
        "hash": info["hash"],
        "vocab_size": info["vocab_size"],
        "vocab_size_requested": config.vocab_size,
        "trained_on_chars": info["trained_on_chars"],
        "source": "user-supplied" if user else "trained",
        "reused": info["reused"],
    })


TokenShardsConfig = config_class(
    "TokenShardsConfig", __name__, keyword_fields(tokens.build_token_shards, skip=("log", "summary")),
    doc="The keyword arguments of ``corpus.tokens.build_token_shards`` (defaults: corpus/recipe.py).")


@dg.asset(group_name="tokens", deps=[tokenizer], kinds={"numpy"})
def token_shards(context: dg.AssetExecutionContext, config: TokenShardsConfig, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """``shards/``: flat uint16/uint32 ``.bin`` token files + ``manifest.json`` with the exact achieved shares."""
    layout = corpus_storage.layout()
    m = tokens.build_token_shards(layout, corpus_storage.preset().curated_stage, mixture.plan_path(layout), tokens.tokenizer_dir(layout),
                                  layout.shards, log=context.log.info, summary=step_summary(context), **config.model_dump())
    for w in m["warnings"]:
        context.log.warning(w)
    context.log.info(f"unigram entropy of the train shards: {m['unigram_entropy_nats']:.4f} nats/token")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(layout.shards / MANIFEST)), **step_summary(context).metadata(),
        "dtype": m["dtype"],
        "vocab_size": m["vocab_size"],
        "train_tokens": m["train_tokens"],
        "val_tokens": m["val_tokens"],
        "shards": len(m["shards"]),
        "achieved_shares": dg.MetadataValue.json(m["achieved_shares"]),
        "planned_shares": dg.MetadataValue.json(m["weights"]),
        "epochs": dg.MetadataValue.json(m["epochs"]),
        **_shares_metadata(m["share_report"], mixture.plan_report(mixture.exact_plan_path(layout)), m["missing_sources"]),
        "unigram_entropy_nats": m["unigram_entropy_nats"],
        "tokenizer_hash": m["tokenizer"]["hash"],
        "catalog_snapshot": m["catalog_snapshot"],
        "warnings": dg.MetadataValue.json(m["warnings"]),
        "skipped": bool(m.get("skipped", False)),
    })
