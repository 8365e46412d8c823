"""The LLaMA-3 heuristic filter stages of the web sources (Gopher, C4, FineWeb rules), each a per-part
``DocumentFilter`` stage (``assets.stages.filter_stage_asset``) that the ``llama3`` recipe runs
(``corpus.presets``); under ``llama1`` they write nothing."""

import dataclasses
import typing
from typing import Any, List

import dagster as dg

from assets.config_base import ValidatedConfig, config_class, dataclass_fields
from assets.stages import filter_stage_asset
from corpus import stage as stage_module
from corpus.filters import base, gopher
from corpus.storage import Layout


def rules_config(name: str, rules: type) -> type[dg.Config]:
    """A run Config with one field per scalar or string-tuple field of a rules dataclass (a tuple of
    strings becomes a list); the n-gram tables stay the recipe's (Dagster config has no tuple of pairs)."""
    fields = {}
    for n, (t, default) in dataclass_fields(rules).items():
        if t in (int, float, bool, str):
            fields[n] = (t, default)
        elif typing.get_origin(t) is tuple and typing.get_args(t) == (str, ...):
            fields[n] = (List[str], list(default))
    return config_class(name, __name__, fields, ValidatedConfig, doc=f"Run config of the {rules.__name__} (defaults: corpus/recipe.py).")


def rules_from(rules: type, config: dg.Config) -> Any:
    """The rules dataclass with the config's values (lists back to tuples)."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(rules) if f.name in type(config).model_fields}
    return rules(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


GopherConfig = rules_config("GopherConfig", gopher.GopherRules)


def _gopher(config: GopherConfig, layout: Layout):
    rules = rules_from(gopher.GopherRules, config)
    return dataclasses.asdict(rules), lambda source: gopher.GopherFilter(source, rules)


web_gopher = filter_stage_asset(
    gopher.STAGE, GopherConfig, _gopher, (gopher, base, stage_module),
    "Gopher quality and repetition rules (Rae et al. 2021, A.1.1): the first failing rule is the drop reason.")
