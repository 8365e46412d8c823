"""LLaMA-3's URL and dirty-word filter of the web sources (``corpus.filters.url``), a per-part stage the
``llama3`` recipe runs first, right after ingest (``corpus.presets``); under ``llama1`` it writes nothing.

The lists are run config (a local path or an http(s) URL each, fetched into ``work/url_filter/lists/``);
an empty one is not used (none is by default: the lists are third-party and never shipped)."""

import dataclasses

from assets.stages import filter_stage_asset
from assets.web_heuristics import rules_config, rules_from
from corpus import part_runners
from corpus.filters import base, url, wordlists
from corpus.storage import Layout

UrlFilterConfig = rules_config("UrlFilterConfig", url.UrlFilterSettings)


def _url_filter(config: UrlFilterConfig, layout: Layout):
    flt, sizes, content = url.load_url_filter(rules_from(url.UrlFilterSettings, config), "", layout.work / url.STAGE / "lists")
    return {"lists": content, "sizes": sizes}, lambda source: dataclasses.replace(flt, source=source)


web_url_filter = filter_stage_asset(
    url.STAGE, UrlFilterConfig, _url_filter, (url, wordlists, base, part_runners),
    "URL filter (UT1 domain/URL blocklists, hard/soft-banned words and subwords in the URL) and the dirty-word "
    "count of the text (LLaMA-3 3.1.1; RefinedWeb G.1; datatrove's URLFilter): the first failing rule is the reason.")
