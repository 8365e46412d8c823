"""The default CCNet chain after language ID (perplexity buckets, then the Wikipedia-reference classifier's keep
rule) on real English pages (tests/web_pages.py, evaluation half) at input sizes 1, 30 and 3,000, and on the
boilerplate pages. Each input is run as cc_perplexity and cc_wikiref run it, through the same functions
with their default settings: ``score_table`` -> ``ScoreSample`` -> ``choose_cutoffs`` -> ``bucket_filter``, then
``WikirefFilter`` with the threshold of the model's own keep rule; an input is pooled alone, as a snapshot of
that size would be, so a single page takes its cut-offs from the model's web reference."""
from collections import Counter

import pyarrow as pa
import pytest

from corpus import recipe
from corpus.filters import perplexity as ppl
from corpus.filters.wikiref import WikirefFilter, WikirefScorer
from corpus.schema import DOCUMENT_SCHEMA, new_document
from tests import web_pages
from tests.assets.test_cc_perplexity import trained  # noqa: F401 (fixture)
from tests.quality_models.test_wikiref import classifier  # noqa: F401 (fixture)

SOURCE = "commoncrawl"


class Chain:
    """The trained KenLM set and the trained wiki-ref classifier, applied to one input at a time."""

    def __init__(self, kenlm_folder, wikiref_folder, wikiref_manifest):
        self.perplexity = ppl.PerplexityScorer(kenlm_folder)
        self.wikiref = WikirefScorer(wikiref_folder / "model.bin")
        self.min_score = wikiref_manifest["keep_rule"]["min_score"]

    def run(self, texts: list[str]) -> tuple[int, int, set[str]]:
        """(kept by perplexity, kept by both, cut-off origins) for one input of language-identified pages."""
        batch = pa.RecordBatch.from_pylist(
            [new_document(SOURCE, f"page:{i}", t, lang="en", lang_score=0.99) for i, t in enumerate(texts)],
            schema=DOCUMENT_SCHEMA)
        scores = ppl.score_table(batch, self.perplexity)
        sample = ppl.ScoreSample(recipe.PERPLEXITY_SAMPLE_DOCS)
        sample.add(scores)
        chosen = ppl.choose_cutoffs(sample, self.perplexity, "auto", recipe.PERPLEXITY_PERCENTILES,
                                    recipe.PERPLEXITY_MIN_DOCS_FOR_PERCENTILES, recipe.CCNET_PERPLEXITY_CUTOFFS,
                                    recipe.PERPLEXITY_WIKI_REFERENCE_PERCENTILES)
        cutoffs = {lang: c.pair for lang, c in chosen.items()}
        after_ppl, _ = ppl.BucketFilter(scores, cutoffs, recipe.PERPLEXITY_KEEP_BUCKETS, False, SOURCE)(batch)
        after_wikiref, _ = WikirefFilter(self.wikiref, self.min_score, SOURCE)(after_ppl)
        return after_ppl.num_rows, after_wikiref.num_rows, {c.origin for c in chosen.values()}


@pytest.fixture(scope="module")
def chain(trained, classifier):  # noqa: F811 (fixtures imported above)
    _, wikiref_folder, wikiref_manifest, _ = classifier
    return Chain(trained[0], wikiref_folder, wikiref_manifest)


def test_default_chain_keeps_20_to_90_percent_of_real_english_pages_at_1_30_and_3000_pages(chain, samples_dir):
    real = [p["text"] for p in web_pages.real_english_pages(samples_dir, "evaluation")]
    assert len(real) == 143
    alone = [chain.run([text]) for text in real]  # size 1: each distinct evaluation page as its own input
    assert {o for _, _, origins in alone for o in origins} == {ppl.WEB_REFERENCE}
    kept = {1: (sum(p for p, _, _ in alone), sum(k for _, k, _ in alone), len(real))}
    for size, origin in ((30, ppl.WEB_REFERENCE), (3000, ppl.SNAPSHOT_PERCENTILES)):
        after_ppl, after_both, origins = chain.run(web_pages.english_pages(samples_dir, size, split="evaluation"))
        assert origins == {origin}
        kept[size] = (after_ppl, after_both, size)
    print("default chain (perplexity -> wikiref) keeps of real English pages:",
          {n: f"perplexity {p}/{total} = {p / total:.3f}, both {k}/{total} = {k / total:.3f}"
           for n, (p, k, total) in kept.items()})
    # pinned (KenLM, lid.176 and the classifier are deterministic on the samples): perplexity 0.650 / 0.500 / 0.600,
    # then wikiref 0.497 / 0.467 / 0.476 of the pages
    assert {n: (p, k) for n, (p, k, _) in kept.items()} == {1: (93, 71), 30: (15, 14), 3000: (1800, 1428)}
    for n, (_, k, total) in kept.items():
        assert 0.2 <= k / total <= 0.9, (n, k / total)


def test_default_chain_keeps_no_boilerplate_page_alone_or_together(chain, samples_dir):
    pages = web_pages.boilerplate_pages(samples_dir)
    assert Counter(kind for kind, _ in pages) == {"navigation": 10, "cookie_notice": 10, "keyword_list": 10}
    alone = [chain.run([text]) for _, text in pages]
    assert sum(k for _, k, _ in alone) == 0 and sum(p for p, _, _ in alone) == 0  # perplexity drops them all
    assert chain.run([text for _, text in pages])[:2] == (0, 0)
