"""The recipe presets: llama1 is today's chain exactly; llama3 inserts the web stages where the shared
plan puts them; every stage reads the previous active one."""
import pytest

from corpus import presets
from corpus.catalog import CURATED_STAGE, STAGE_ORDER
from corpus.recipe import SOURCES

LLAMA1_CC = ("ingest", "line_dedup", "langid", "perplexity", "wikiref", "exact_dedup", "near_dedup")
LLAMA3_CC = ("ingest", "url_filter", "line_dedup", "langid", "gopher", "c4_rules", "fineweb_rules", "perplexity",
             "wikiref", "quality_classifier", "exact_dedup", "near_dedup", "semantic_dedup")


def test_llama1_is_todays_chain_and_the_default(monkeypatch):
    monkeypatch.delenv(presets.ENV, raising=False)
    p = presets.preset()
    assert p.name == "llama1"
    assert p.stages("commoncrawl") == LLAMA1_CC == STAGE_ORDER
    for source in SOURCES[1:]:
        assert p.stages(source) == ("ingest", "exact_dedup", "near_dedup")
    assert p.curated_stage == CURATED_STAGE == "near_dedup"
    assert p.upstream("commoncrawl", "line_dedup") == "ingest"
    assert p.upstream("commoncrawl", "perplexity") == "langid"
    assert {s: p.pre_dedup_stage(s) for s in ("commoncrawl", "c4")} == {"commoncrawl": "wikiref", "c4": "ingest"}
    assert p.sources("gopher") == ()


def test_llama3_chain_from_env_and_the_optional_c4(monkeypatch):
    monkeypatch.setenv(presets.ENV, "llama3")
    p = presets.preset()
    assert p.stages("commoncrawl") == LLAMA3_CC == presets.ALL_STAGES
    assert p.stages("c4") == ("ingest", "exact_dedup", "near_dedup", "semantic_dedup")
    assert p.curated_stage == "semantic_dedup"
    assert p.upstream("commoncrawl", "gopher") == "langid"
    assert p.upstream("commoncrawl", "perplexity") == "fineweb_rules"
    assert p.pre_dedup_stage("commoncrawl") == "quality_classifier"
    with_c4 = presets.preset("llama3", ["commoncrawl", "c4"])
    assert with_c4.stages("c4") == ("ingest", "url_filter", "gopher", "c4_rules", "fineweb_rules",
                                    "quality_classifier", "exact_dedup", "near_dedup", "semantic_dedup")
    assert with_c4.upstream("c4", "gopher") == "url_filter"
    assert with_c4.sources("gopher") == ("commoncrawl", "c4")


def test_bad_names_fail_clearly():
    with pytest.raises(ValueError, match="unknown recipe 'llama2'"):
        presets.preset("llama2")
    with pytest.raises(ValueError, match=r"web_sources \['github'\]"):
        presets.preset("llama3", ["github"])
    with pytest.raises(ValueError, match="does not run for commoncrawl under recipe llama1"):
        presets.preset("llama1").upstream("commoncrawl", "gopher")


def test_asset_deps_cover_both_recipes():
    assert presets.asset_deps("line_dedup") == ["commoncrawl_documents", "web_url_filter"]
    assert presets.asset_deps("gopher") == ["cc_language_id", "web_url_filter"]
    assert presets.asset_deps("perplexity") == ["cc_language_id", "web_fineweb_rules"]
    deps = presets.asset_deps("exact_dedup")
    assert {"cc_wikiref", "web_quality_classifier", "c4_documents"} <= set(deps)
    assert presets.asset_deps("semantic_dedup") == ["near_dedup"]
