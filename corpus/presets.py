"""Recipe presets: which stages each source goes through, in what order, under ``CORPUS_RECIPE``.

``llama1`` (the default) is the LLaMA-1 chain this project has always run. ``llama3`` adds the LLaMA-3
filter family (Dubey et al. 2024, section 3.1.1) to the web sources: URL filtering, the Gopher, C4 and
FineWeb heuristics, a model-based quality classifier and semantic dedup. Under llama3 a CommonCrawl page
goes through::

    ingest -> url_filter -> line_dedup -> langid -> gopher -> c4_rules -> fineweb_rules -> perplexity
           -> wikiref -> quality_classifier -> exact_dedup -> near_dedup -> semantic_dedup

(URLs first: the cheapest test, and it needs no text; the heuristics after language ID because their
stop-word and punctuation rules are English ones, and before the perplexity models so those are fitted
and applied on cleaned text; the classifier last before the corpus-wide dedups, which run on every source.)
C4 takes the web stages too when ``web_sources`` names it (``recipe.LLAMA3_WEB_SOURCES``: only CommonCrawl
by default, as C4 is already filtered by its own rules).

Every stage has one asset (``STAGE_ASSETS``), present in the Dagster graph under both recipes; the graph's
dependencies are the union over the recipes (``asset_deps``). A stage that the active recipe does not
run for a source writes no parts there (and clears any a previous run of another recipe left), and the
next stage reads the previous *active* one (``Preset.upstream``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from corpus import recipe

ENV = "CORPUS_RECIPE"
LLAMA1, LLAMA3 = "llama1", "llama3"
RECIPES = (LLAMA1, LLAMA3)

INGEST = "ingest"
CCNET_STAGES = ("line_dedup", "langid", "perplexity", "wikiref")  # CommonCrawl only, both recipes
CORPUS_WIDE_STAGES = ("exact_dedup", "near_dedup", "semantic_dedup")  # every source
# the web stages llama3 adds, each at its place in the CommonCrawl chain
LLAMA3_WEB_STAGES = ("url_filter", "gopher", "c4_rules", "fineweb_rules", "quality_classifier")
# every stage of every recipe, in funnel order (the order the catalog's funnel sorts by)
ALL_STAGES = (INGEST, "url_filter", "line_dedup", "langid", "gopher", "c4_rules", "fineweb_rules", "perplexity",
              "wikiref", "quality_classifier", "exact_dedup", "near_dedup", "semantic_dedup")
# the sources a web stage may run on (``web_sources`` must be among them)
WEB_SOURCE_CHOICES = ("commoncrawl", "c4")

# the asset that writes each stage (ingest: ``<source>_documents``)
STAGE_ASSETS = {
    "url_filter": "web_url_filter", "line_dedup": "cc_line_dedup", "langid": "cc_language_id",
    "gopher": "web_gopher", "c4_rules": "web_c4_rules", "fineweb_rules": "web_fineweb_rules",
    "perplexity": "cc_perplexity", "wikiref": "cc_wikiref", "quality_classifier": "web_quality_classifier",
    "exact_dedup": "exact_dedup", "near_dedup": "near_dedup", "semantic_dedup": "semantic_dedup",
}
_RECIPE_STAGES = {
    LLAMA1: frozenset((INGEST, *CCNET_STAGES, "exact_dedup", "near_dedup")),
    LLAMA3: frozenset(ALL_STAGES),
}


def stage_asset(stage: str, source: str) -> str:
    return f"{source}_documents" if stage == INGEST else STAGE_ASSETS[stage]


@dataclass(frozen=True)
class Preset:
    """One recipe's stage chains. ``web_sources``: the sources the llama3 web stages run on."""

    name: str = LLAMA1
    web_sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.name not in RECIPES:
            raise ValueError(f"unknown recipe {self.name!r} ({ENV}); known: {', '.join(RECIPES)}")
        if unknown := sorted(set(self.web_sources) - set(WEB_SOURCE_CHOICES)):
            raise ValueError(f"web_sources {unknown}: the web stages run on {', '.join(WEB_SOURCE_CHOICES)} only")

    def stages(self, source: str) -> tuple[str, ...]:
        """The source's stages, in order."""
        def runs(stage: str) -> bool:
            if stage not in _RECIPE_STAGES[self.name]:
                return False
            if stage in CCNET_STAGES:
                return source == "commoncrawl"
            if stage in LLAMA3_WEB_STAGES:
                return source in self.web_sources
            return True
        return tuple(s for s in ALL_STAGES if runs(s))

    def is_active(self, source: str, stage: str) -> bool:
        return stage in self.stages(source)

    def sources(self, stage: str) -> tuple[str, ...]:
        """The sources that go through ``stage`` (``recipe.SOURCES`` order)."""
        return tuple(s for s in recipe.SOURCES if self.is_active(s, stage))

    def upstream(self, source: str, stage: str) -> str:
        """The stage whose documents ``stage`` reads for ``source``: the previous active one."""
        chain = self.stages(source)
        if stage not in chain:
            raise ValueError(f"stage {stage} does not run for {source} under recipe {self.name}")
        i = chain.index(stage)
        if i == 0:
            raise ValueError(f"{stage} is the first stage of {source}: it reads raw files")
        return chain[i - 1]

    def pre_dedup_stage(self, source: str) -> str:
        """The last stage of ``source`` before the corpus-wide dedups."""
        return self.upstream(source, CORPUS_WIDE_STAGES[0])

    @property
    def curated_stage(self) -> str:
        """The stage whose documents are the curated corpus (the catalog's ``documents``, the mixture's input)."""
        return self.stages(recipe.SOURCES[0])[-1]

    @property
    def funnel_order(self) -> tuple[str, ...]:
        """Every stage this recipe runs, in funnel order."""
        return tuple(s for s in ALL_STAGES if any(s in self.stages(src) for src in recipe.SOURCES))


def preset(name: str | None = None, web_sources: tuple[str, ...] | list[str] | None = None) -> Preset:
    """The preset ``name`` (default ``$CORPUS_RECIPE``, else llama1); llama3's web sources default to
    ``recipe.LLAMA3_WEB_SOURCES``."""
    name = name or os.environ.get(ENV) or LLAMA1
    if web_sources is None:
        web_sources = recipe.LLAMA3_WEB_SOURCES if name == LLAMA3 else ()
    return Preset(name, tuple(web_sources))


# the preset whose chains contain every (source, stage) edge any configuration can have
WIDEST = Preset(LLAMA3, WEB_SOURCE_CHOICES)


def asset_deps(stage: str) -> list[str]:
    """The Dagster deps of ``stage``'s asset: for every source it may run on, the asset of every stage it may
    read, over all recipes (the union keeps both recipes' orders valid)."""
    deps: list[str] = []
    for p in (Preset(LLAMA1), Preset(LLAMA3, ("commoncrawl",)), WIDEST):
        for source in p.sources(stage):
            up = stage_asset(p.upstream(source, stage), source)
            if up not in deps:
                deps.append(up)
    return deps


def possible_sources(stage: str) -> tuple[str, ...]:
    """Every source ``stage`` may run on under some configuration (the ones an inactive stage clears)."""
    return WIDEST.sources(stage)
