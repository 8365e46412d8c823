"""The LLaMA-3 heuristic filter stages of the web sources (Gopher, C4, FineWeb rules), each a per-part
``DocumentFilter`` stage (``assets.stages.filter_stage_asset``) that the ``llama3`` recipe runs
(``corpus.presets``); under ``llama1`` they write nothing."""

import dataclasses
from typing import Callable

import dagster as dg

from assets.config_base import ValidatedConfig, config_class, dataclass_fields, dataclass_from, listed
from assets.stages import filter_stage_asset
from corpus import part_runners
from corpus.filters import base, c4_rules, fineweb, gopher
from corpus.storage import Layout


def rules_config(name: str, rules: type) -> type[dg.Config]:
    """A run Config with one field per scalar or string-tuple field of a rules dataclass (a tuple of
    strings becomes a list); the n-gram tables stay the recipe's (Dagster config has no tuple of pairs)."""
    fields = {n: (t, d) for n, (t, d) in listed(dataclass_fields(rules)).items() if t in (int, float, bool, str, list[str])}
    return config_class(name, __name__, fields, ValidatedConfig, doc=f"Run config of the {rules.__name__} (defaults: corpus/recipe.py).")


rules_from = dataclass_from  # the rules dataclass with the config's values (lists back to tuples)


def rules_stage(stage: str, rules: type, make_filter: Callable[..., base.DocumentFilter], code: tuple,
                description: str) -> dg.AssetsDefinition:
    """The stage asset of a rules dataclass and its filter class ``make_filter(source, rules)``."""
    config_cls = rules_config(f"{rules.__name__.removesuffix('Rules')}Config", rules)

    def build(config: dg.Config, layout: Layout):
        chosen = rules_from(rules, config)
        return dataclasses.asdict(chosen), lambda source: make_filter(source, chosen)

    return filter_stage_asset(stage, config_cls, build, (*code, base, part_runners), description)


web_gopher = rules_stage(
    gopher.STAGE, gopher.GopherRules, gopher.GopherFilter, (gopher,),
    "Gopher quality and repetition rules (Rae et al. 2021, A.1.1): the first failing rule is the drop reason.")
web_c4_rules = rules_stage(
    c4_rules.STAGE, c4_rules.C4Rules, c4_rules.C4RulesFilter, (c4_rules, gopher),
    "The C4 rules (Raffel et al. 2020): lines without terminal punctuation, short, javascript or policy lines "
    "removed; pages with lorem ipsum, a curly bracket or under 5 sentences dropped.")
web_fineweb_rules = rules_stage(
    fineweb.STAGE, fineweb.FineWebRules, fineweb.FineWebFilter, (fineweb, gopher),
    "FineWeb's quality rules (Penedo et al. 2024): line punctuation, short lines, duplicated line characters, "
    "newlines per word.")
