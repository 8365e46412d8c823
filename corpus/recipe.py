"""The recipe's numbers, in one place, each with its source (see ../shared/design/RECIPE.md).

Config classes take their defaults from here; code never repeats a threshold as a literal.
"""
from __future__ import annotations

SOURCES: tuple[str, ...] = (
    "commoncrawl", "c4", "github", "wikipedia", "books", "arxiv", "stackexchange",
)

# LLaMA-1 Table 1: sampling share of the output tokens, in percent.
MIXTURE_SHARES_PCT: dict[str, float] = {
    "commoncrawl": 67.0,
    "c4": 15.0,
    "github": 4.5,
    "wikipedia": 4.5,
    "books": 4.5,
    "arxiv": 2.5,
    "stackexchange": 2.0,
}

# Exact/near dedup keeps the first copy by this order (curated sources first), then by id.
DEDUP_SOURCE_PRIORITY: tuple[str, ...] = (
    "wikipedia", "books", "arxiv", "stackexchange", "github", "c4", "commoncrawl",
)

# CCNet (Wenzek et al. 2019): WET documents under 300 characters are dropped at parse.
CCNET_MIN_DOC_CHARS = 300
# CCNet / LLaMA: fastText lid.176 top-1 score below 0.5 is dropped.
LANGID_MIN_SCORE = 0.5
# LLaMA-1 section 2.1: CCNet "removes non-English pages".
CC_KEEP_LANGUAGES: tuple[str, ...] = ("en",)
# CCNet: KenLM 5-gram per language, buckets at the 30th/60th percentiles; head+middle kept (LLaMA, RedPajama).
KENLM_ORDER = 5
PERPLEXITY_PERCENTILES = (30.0, 60.0)
# CCNet's published cut-offs (head/middle, middle/tail) per language.
CCNET_PERPLEXITY_CUTOFFS: dict[str, tuple[float, float]] = {
    "en": (340.0, 520.0),
    "de": (370.0, 590.0),
    "fr": (180.0, 330.0),
    "es": (180.0, 290.0),
    "it": (220.0, 360.0),
}
PERPLEXITY_KEEP_BUCKETS: tuple[str, ...] = ("head", "middle")
# RedPajama v1 reproduction of LLaMA's Wikipedia-reference classifier: keep P(wiki-ref) >= 0.25.
WIKIREF_MIN_SCORE = 0.25
# RedPajama v1: reference pages under 1,000 characters are not used as positives.
WIKIREF_MIN_POSITIVE_CHARS = 1000

# LLaMA-1 / RedPajama: the 20 Wikipedia languages (Latin or Cyrillic script).
WIKIPEDIA_LANGUAGES: tuple[str, ...] = (
    "bg", "ca", "cs", "da", "de", "en", "es", "fr", "hr", "hu",
    "it", "nl", "pl", "pt", "ro", "ru", "sl", "sr", "sv", "uk",
)

# RedPajama v1 GitHub rules.
GITHUB_PERMISSIVE_LICENSES: tuple[str, ...] = ("MIT", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0")
GITHUB_MAX_LINE_CHARS = 1000
GITHUB_MAX_MEAN_LINE_CHARS = 100
GITHUB_MIN_ALNUM_FRACTION = 0.25
GITHUB_MIN_ALPHA_PER_TOKEN = 1.5

# LLaMA-1: books with more than 90% content overlap are removed.
BOOKS_NEAR_DUP_JACCARD = 0.9
# RedPajama v1: the 28 largest StackExchange sites.
STACKEXCHANGE_TOP_SITES = 28

# Near dedup (FineWeb: word 5-grams; our default Jaccard threshold 0.8).
MINHASH_NGRAM = 5
MINHASH_THRESHOLD = 0.8
MINHASH_NUM_PERM = 128

# LLaMA-1 tokenizer: BPE, digits split, byte fallback, 32k vocabulary.
TOKENIZER_VOCAB_SIZE = 32_000
