"""Configs that mirror settings defined elsewhere are built from them, so they cannot drift: every field of
TrainConfig is a PretrainConfig field, and every keyword argument of a source's reader (and of its input
discovery) is a field of that source's ingest config, with the same type and default; run config reaches them."""
import inspect
import typing
from dataclasses import fields

import dagster as dg
import pytest

from assets.sources import SCRATCH_OPTIONS, ingest_assets, source_config
from corpus.recipe import SOURCES
from corpus.sources import reader
from training.assets import PretrainConfig, pretrained_model
from training.config import TrainConfig


def _config_fields(cls: type[dg.Config]) -> dict:
    return {name: (f.annotation, f.default) for name, f in cls.model_fields.items()}


def _run_config_fields(asset: dg.AssetsDefinition) -> set[str]:
    return set(asset.op.config_schema.as_field().config_type.fields)


def test_every_train_config_field_is_a_pretrain_config_field_with_its_type_and_default():
    hints = typing.get_type_hints(TrainConfig)
    expected = {f.name: (hints[f.name], f.default) for f in fields(TrainConfig)}
    assert _config_fields(PretrainConfig) == expected
    # the five that the hand-written copy had lost
    assert {"min_lr_ratio", "weight_decay", "beta1", "beta2", "grad_clip"} <= _run_config_fields(pretrained_model)
    assert _run_config_fields(pretrained_model) == set(expected)


def test_pretrain_run_config_reaches_the_train_config():
    config = PretrainConfig(weight_decay=0.0, beta2=0.99, unigram_logit_bias=False)
    assert TrainConfig(**config.model_dump()) == TrainConfig(weight_decay=0.0, beta2=0.99, unigram_logit_bias=False)


def _keyword_arguments(fn, skip=()) -> dict:
    hints = typing.get_type_hints(fn)
    return {p.name: (hints[p.name], p.default) for p in inspect.signature(fn).parameters.values()
            if p.default is not inspect.Parameter.empty and p.name not in skip}


@pytest.mark.parametrize("source", SOURCES)
def test_every_reader_argument_is_an_ingest_config_field_with_its_type_and_default(source):
    module = reader(source)
    options = _keyword_arguments(module.read_documents, SCRATCH_OPTIONS)
    discovery = _keyword_arguments(module.discover_inputs)
    config = source_config(source)
    assert _config_fields(config) == {"inputs": (list[str], []), **options, **discovery}
    assert config.discovery_fields == tuple(discovery)
    asset = next(a for a in ingest_assets if a.key.path == [f"{source}_documents"])
    assert _run_config_fields(asset) == {"inputs", *options, *discovery}


def test_the_readers_settings_beyond_max_doc_bytes_are_exposed():
    assert {"min_doc_chars", "main_content"} <= set(source_config("commoncrawl").model_fields)
    assert {"max_include_depth", "max_macro_depth"} <= set(source_config("arxiv").model_fields)
    assert "top_sites" in source_config("stackexchange").model_fields


KEPT_WITHOUT_LENGTH_FLOOR = 16  # documents of the sample WARC with min_doc_chars 0


def test_a_reader_setting_in_run_config_reaches_the_reader(samples_dir, tmp_path):
    """``min_doc_chars`` was not a config field: now a run config value changes what commoncrawl keeps."""
    from assets.resources import CorpusStorage, RawInputs
    from corpus.storage import Layout, read_part_stats

    cc = next(a for a in ingest_assets if a.key.path == ["commoncrawl_documents"])
    warc = samples_dir / "commoncrawl" / "cc-main-2020-34_resiliparse" / "warcfile.warc.gz"
    kept = {}
    for min_chars in (0, 1_000_000):
        data = tmp_path / str(min_chars)
        result = dg.materialize([cc], resources={"corpus_storage": CorpusStorage(data_root=str(data)),
                                                 "raw_inputs": RawInputs(raw_dir=str(tmp_path / "raw"))},
                                run_config={"ops": {"commoncrawl_documents": {"config": {
                                    "inputs": [str(warc)], "min_doc_chars": min_chars}}}})
        assert result.success
        (part,) = Layout(data).parts("docs", "ingest", "commoncrawl")
        kept[min_chars] = read_part_stats(Layout(data), "ingest", "commoncrawl", part.stem).docs_out
    assert kept == {0: KEPT_WITHOUT_LENGTH_FLOOR, 1_000_000: 0}


def test_the_model_and_mixture_configs_are_their_dataclasses_plus_their_own_fields():
    """PerplexityModelsConfig is KenlmParams (its tuple a list) + the CCNet/reference fields, WikirefClassifierConfig
    is WikirefParams + the index fields, MixtureConfig's val_* fields are HeldOutPolicy's: the defaults are the
    dataclasses' (corpus/recipe.py), and a config value reaches the dataclass."""
    from assets.config_base import dataclass_from
    from assets.tokens import MixtureConfig
    from corpus.mixture import HeldOutPolicy
    from quality_models.kenlm_model import KenlmParams
    from quality_models.perplexity_assets import PerplexityModelsConfig
    from quality_models.wikiref import WikirefParams
    from quality_models.wikiref_assets import WikirefClassifierConfig

    hints = typing.get_type_hints(KenlmParams)
    kenlm = {**{f.name: (hints[f.name], f.default) for f in fields(KenlmParams)}, "languages": (list[str], [])}
    assert {n: v for n, v in _config_fields(PerplexityModelsConfig).items() if n in kenlm} == kenlm
    assert set(PerplexityModelsConfig.model_fields) - set(kenlm) == {"web_reference_sources", "ccnet_models",
                                                                      "ccnet_languages", "ccnet_sha256"}
    assert dataclass_from(KenlmParams, PerplexityModelsConfig(languages=["fr", "de"], order=3)) == \
        KenlmParams(languages=("fr", "de"), order=3)
    wikiref_fields = {f.name for f in fields(WikirefParams)}
    assert set(WikirefClassifierConfig.model_fields) - wikiref_fields == {"cc_index", "warc_base", "max_cited_pages"}
    assert dataclass_from(WikirefParams, WikirefClassifierConfig()) == WikirefParams()
    assert dataclass_from(WikirefParams, WikirefClassifierConfig(min_score=0.5)) == WikirefParams(min_score=0.5)
    assert {f"val_{f.name}" for f in fields(HeldOutPolicy)} <= set(MixtureConfig.model_fields)
    assert MixtureConfig().heldout() == HeldOutPolicy()
    assert MixtureConfig(val_min_docs=3, val_fraction=0.0).heldout() == HeldOutPolicy(min_docs=3, fraction=0.0)


def test_the_stage_and_token_configs_are_their_functions_keywords_and_filters_fields():
    """The configs of cc_line_dedup, cc_perplexity, cc_wikiref, tokenizer and token_shards are the keyword
    arguments of the function each feeds (a tuple a list), cc_language_id's the LangIdFilter's settings,
    each with the function's type and default (corpus/recipe.py), plus the wiring fields said in the module;
    a config value reaches the filter."""
    from typing import Optional

    from assets.cc_language_id import LanguageIdConfig
    from assets.cc_line_dedup import LineDedupConfig
    from assets.cc_perplexity import PerplexityConfig
    from assets.cc_wikiref import WikirefConfig
    from assets.config_base import dataclass_from
    from assets.tokens import TokenizerConfig, TokenShardsConfig
    from corpus import recipe, tokens
    from corpus.filters import langid, line_dedup, perplexity, wikiref

    assert _config_fields(LineDedupConfig) == _keyword_arguments(line_dedup.LineDedupStage.plan, ("summary",))
    assert _config_fields(PerplexityConfig) == {
        **_keyword_arguments(perplexity.PerplexityStage.plan, ("summary",)),
        "percentiles": (list[float], list(recipe.PERPLEXITY_PERCENTILES)),
        "keep_buckets": (list[str], list(recipe.PERPLEXITY_KEEP_BUCKETS))}
    assert _config_fields(WikirefConfig) == _keyword_arguments(wikiref.applied_keep_rule) == {"min_score": (Optional[float], None)}
    assert _config_fields(TokenizerConfig) == {"tokenizer_path": (Optional[str], None),
                                               **_keyword_arguments(tokens.build_tokenizer, ("user_file",))}
    assert _config_fields(TokenShardsConfig) == _keyword_arguments(tokens.build_token_shards, ("log", "summary"))
    assert _config_fields(TokenShardsConfig) == {"shard_tokens": (int, recipe.SHARD_TOKENS), "force": (bool, False)}
    assert _config_fields(LanguageIdConfig) == {
        "model_path": (Optional[str], None), "use_refiners": (bool, True),
        "keep_languages": (list[str], list(recipe.CC_KEEP_LANGUAGES)), "min_score": (float, recipe.LANGID_MIN_SCORE),
        "min_score_per_language": (dict[str, float], {})}
    config = LanguageIdConfig(keep_languages=["en", "de"], min_score_per_language={"en": 0.65})
    assert dataclass_from(langid.LangIdFilter, config, identifier=None, source="commoncrawl") == \
        langid.LangIdFilter(None, "commoncrawl", ("en", "de"), recipe.LANGID_MIN_SCORE, {"en": 0.65})
