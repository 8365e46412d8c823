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

# Ours, for the blocking language check: the languages each source's curated documents may be in (the
# LID filter keeps English Common Crawl; Wikipedia is the 20 languages above). Sources not listed have
# no language bound (their `lang` is not identified upstream).
CURATED_LANGUAGES: dict[str, tuple[str, ...]] = {"commoncrawl": CC_KEEP_LANGUAGES, "wikipedia": WIKIPEDIA_LANGUAGES}

# Near dedup (FineWeb: word 5-grams; our default Jaccard threshold 0.8).
MINHASH_NGRAM = 5
MINHASH_THRESHOLD = 0.8
MINHASH_NUM_PERM = 128

# LLaMA-1 tokenizer: BPE, digits split, byte fallback, 32k vocabulary.
TOKENIZER_VOCAB_SIZE = 32_000

# CCNet (cc_net/mine.py): the per-language SentencePiece unigram tokenizer before KenLM has 65,536 pieces
# (an upper bound for ours: the trainer stops earlier when the training text is small; 25,463 pieces and
# ~10 s on 2 cores for the 2.9 MB English sample).
KENLM_TOKENIZER_VOCAB = 65_536
# Ours: share of Wikipedia lines held out (by hash) from the KenLM training text to report its perplexity.
KENLM_HOLDOUT_FRACTION = 0.1
# Ours: a language needs at least this many Wikipedia lines to get a KenLM model (lmplz fails on less).
KENLM_MIN_TRAIN_LINES = 200
# cc_net Makefile: the LM and its SentencePiece model are trained on the openings of the first
# NDOC_FOR_LM = 1,000,000 Wikipedia documents of a language (NDOC_FOR_SENTPIECE = 400,000 is declared too):
# a bounded text. Ours: hash-priority samples (by <doc id>:<line>) of a language's training lines, the
# SentencePiece one the lowest priorities of the KenLM one, so memory does not grow with Wikipedia. Sized
# for this project's machines (2 cores, 24 GiB shared): SentencePiece's unigram trainer held ~4.8 KB per
# Wikipedia paragraph (~20 bytes per character: +504 MB on the 106,690 English lines of the 10x scaling
# benchmark, +51 MB on the samples' 10,518); the KenLM binary, which the filter loads, ~3.5 KB per
# training line on the samples (36.7 MB for 10,518). Both bounds are above the English sample's 10,518
# training lines, whose training text is unchanged; raise them (PerplexityModelsConfig) on a larger machine.
KENLM_MAX_TRAIN_LINES = 50_000
KENLM_TOKENIZER_MAX_LINES = 20_000
# Ours: with fewer matched Wikipedia-cited pages than this, the classifier uses the curated fallback.
WIKIREF_MIN_POSITIVES = 100
# Ours: the keep rule of a fallback classifier (Wikipedia/Books paragraphs vs web pages), whose
# P(wiki-ref) is not RedPajama's: the threshold that keeps this share of held-out web documents (after LID),
# chosen on its own held-out scores. RedPajama's absolute 0.25 kept none of 35 real English pages with it.
WIKIREF_FALLBACK_KEEP_FRACTION = 0.5
# RedPajama v1 (data_prep/cc/README.md): 38M reference URLs extracted, "early stop ... to only keep 300K pages".
# Ours: a hash-priority sample of at most this many distinct cited URLs is looked up (bounded memory).
WIKIREF_MAX_CITED_URLS = 1_000_000
WIKIREF_MAX_CITED_PAGES = 300_000
# Ours: training chunks kept per class (a hash-priority sample; held-out: this times the holdout fraction),
# and held-out web documents kept to calibrate the fallback's keep rule: bounds training memory.
WIKIREF_MAX_EXAMPLES_PER_CLASS = 300_000
WIKIREF_MAX_CALIBRATION_DOCUMENTS = 10_000
# Ours: chunks taken per document (hash-chosen), so one long page or book does not stand for its class (on the
# samples, without it, one iana.org list was half of the held-out web chunks and two books 3/4 of the positives).
WIKIREF_MAX_CHUNKS_PER_DOCUMENT = 10
# Common Crawl's columnar URL index (Parquet; queried with DuckDB) and where its WARC files are served.
# Empty by default (offline runs and the samples): only cited pages already in the inputs are looked for.
# Production, e.g. ("s3://commoncrawl/cc-index/table/cc-main/warc/crawl=CC-MAIN-2024-22/subset=warc/*.parquet",)
WIKIREF_CC_INDEX: tuple[str, ...] = ()
WIKIREF_CC_WARC_BASE = "https://data.commoncrawl.org/"
# RedPajama v1 trained `fasttext supervised` with fastText's defaults: lr 0.1, dim 100, epoch 5, word n-grams 1.
# On the samples' few hundred examples 15 epochs score better (held-out AUC 0.88 vs 0.77) but the installed
# fastText then trains non-deterministically and at times diverges (NaN); 5 epochs are reproducible.
WIKIREF_FASTTEXT_LR = 0.1
WIKIREF_FASTTEXT_DIM = 100
WIKIREF_FASTTEXT_EPOCH = 5
WIKIREF_FASTTEXT_WORD_NGRAMS = 1
# Ours: training examples are paragraphs merged up to at least this many characters (both classes alike).
WIKIREF_MIN_EXAMPLE_CHARS = 200
# Ours: share of source documents held out (by hash) to report the classifier's accuracy and AUC.
WIKIREF_HOLDOUT_FRACTION = 0.2

# --- Mixture, token shards, pretraining ---
# Ours, not LLaMA's: a total token budget sized for ../shared/samples (a few hundred thousand to a few
# million tokens), large enough that the small curated sources must repeat (epochs > 1) while the
# books are subsampled; production runs set it in the asset Config (LLaMA-1 used 1.4T tokens).
MIXTURE_TOTAL_TOKENS = 1_000_000
# Issue 6: achieved shares (token shards) within 1 percentage point of the (renormalised) targets.
MIXTURE_SHARE_TOLERANCE_PCT = 1.0
# Issue 14, ours: a filter stage that removes every document of a source's input of at least this many
# documents fails its blocking gate (below it, an empty output can be chance: a 3-paper ArXiv sample).
STAGE_EMPTIED_MIN_DOCS_IN = 20
# Ours: the seeds of the document order (changes order only) and of which documents a partial pass /
# the held-out split take (changes the multiset).
MIXTURE_SEED = 0
MIXTURE_SAMPLE_SEED = 0
# Ours (nanoGPT holds out 10% of a single text; we hold out whole documents so no held-out text is ever
# trained on): per source with at least VAL_MIN_SOURCE_DOCS documents, whole documents holding 1% of its
# tokens or VAL_MIN_TOKENS (64 windows of 64 tokens, enough for a stable loss), whichever is more, but
# never more than 10% of its documents (a 30-document sample keeps 27 for training).
VAL_FRACTION = 0.01
VAL_MIN_TOKENS = 4096
VAL_MAX_DOCS_FRACTION = 0.1
VAL_MIN_SOURCE_DOCS = 10
# Ours: tokens per .bin shard (fixed-size shards, nanoGPT/Megatron style; 2^24 uint16 = 32 MiB).
SHARD_TOKENS = 1 << 24
# Ours: how much planned text (characters) the tokenizer is trained on.
TOKENIZER_SAMPLE_CHARS = 50_000_000
# Budget estimate before a tokenizer exists: ~4 characters per token (GPT-2/LLaMA BPE on English).
CHARS_PER_TOKEN_ESTIMATE = 4.0
# LLaMA-1 section 2.3: AdamW beta1 0.9, beta2 0.95, weight decay 0.1, gradient clipping 1.0, cosine
# schedule down to 10% of the maximal learning rate, 2,000 warmup steps (ours scale warmup to the run).
ADAMW_BETAS = (0.9, 0.95)
ADAMW_WEIGHT_DECAY = 0.1
GRAD_CLIP_NORM = 1.0
MIN_LR_RATIO = 0.1
LLAMA_WARMUP_STEPS = 2000

# Near dedup at scale. datasketch MinHashLSH default: equal false-positive / false-negative
# weights when choosing bands x rows for a threshold (datasketch.lsh._optimal_param).
MINHASH_FP_FN_WEIGHTS = (0.5, 0.5)
# RECIPE.md near-dedup: "partition the band table by hash so each part fits in memory and runs
# independently" -- the number of band-hash-prefix partitions (a power of two).
NEAR_DEDUP_BAND_PARTITIONS = 16
# Issue 16: the LSH only proposes candidates; every candidate pair is checked by the exact Jaccard of its
# shingle sets and removed only at J >= the dedup threshold (MINHASH_THRESHOLD; books at LLaMA-1's
# "> 90% content overlap", BOOKS_NEAR_DUP_JACCARD), for every source. Only verified edges enter the
# union-find, so no cluster forms through a chain of LSH collisions (Marin issue 6854).
NEAR_DEDUP_VERIFY_SOURCES: tuple[str, ...] = SOURCES
# Ours: the LSH runs at a lower threshold than the dedup threshold, so that it misses almost no pair at the
# threshold (the verification removes the extra candidates): the highest threshold on a 0.05 grid whose
# S-curve misses < 0.5% of the pairs at J 0.8. datasketch's bands x rows for 0.55 with 128 permutations is
# 21 x 6: 1 - (1 - J**6)**21 finds a pair at J 0.8 with P 0.998, 0.85 and up: 1.000, and proposes a pair at
# J 0.5 with P 0.28, 0.3: 0.015 (unrelated pages are at J ~0.01: no cost). 0.6 (18 x 7) finds J 0.8 with
# P 0.986 (measured: 1 of 29 test pairs in [0.8, 0.85) missed), 0.7 (14 x 9) 0.867, 0.8 itself (9 x 13,
# the unverified setting before verification) 0.399.
NEAR_DEDUP_CANDIDATE_THRESHOLD = 0.55
# Ours: in a band bucket each round verifies every open member against the bucket's smallest open one
# (its head); the unmatched stay open for the next round, so the heads of a bucket are pairwise below the
# threshold. A bucket of k near copies costs k-1 checks; the cap bounds a bucket of k mutually dissimilar
# members (templated pages) to k * ROUNDS checks instead of k**2 / 2. Members still open after it only
# lose this band's chance to be found (recall), never precision.
NEAR_DEDUP_MAX_ROUNDS = 16
# Ours: the shingles (~ words) of the documents whose texts are re-read and shingled at once to verify a
# batch of pairs. Shingling holds ~15 word-length arrays of 8 B at once (word hashes, n-gram windows,
# offsets, the sort), measured ~170-200 B per shingle: 1 << 19 is ~100 MiB whatever the partition size
# (1 << 22 peaked at +900 MB in near_duplicates on the 10x scaling input; 1 << 18 costs +5% time there).
NEAR_DEDUP_VERIFY_BATCH_SHINGLES = 1 << 19
# Ours: the measured Jaccards one verifier remembers across the band partitions it serves (a true pair
# collides in several bands, so in several partitions): ~150 B each, ~150 MiB.
NEAR_DEDUP_VERIFY_MEMO_PAIRS = 1 << 20
# Ours: the deferred candidate pairs (those no later round of their partition depends on) are verified
# once each, globally, in groups of this many pairs, one executor task per group: 4 MiB of pairs, a task
# of a few seconds to a minute (texts re-read per part, in NEAR_DEDUP_VERIFY_BATCH_SHINGLES batches).
NEAR_DEDUP_VERIFY_GROUP_PAIRS = 1 << 18
# Near-dedup scope. "global": one dedup over every source and snapshot (LLaMA-1, RedPajama v1, the
# default). "snapshot": each Common Crawl snapshot is deduplicated on its own (FineWeb: dedup across dumps
# hurt quality, as it removes what recurs across crawls), and the documents of the other sources (and crawl
# pages without a snapshot) together; no cluster spans two of these groups.
NEAR_DEDUP_SCOPES: tuple[str, ...] = ("global", "snapshot")
NEAR_DEDUP_SCOPE = "global"

# --- Books, ArXiv, StackExchange readers ---
# Ours: the largest single record (book, paper file, Posts.xml row) a reader accepts; matches the ingest
# Config's max_doc_bytes default. Larger records are dropped with reason too_large.
INGEST_MAX_DOC_BYTES = 16 << 20
# Ours: how deep \input/\include may nest and how deep a macro may expand into other macros before the
# arXiv reader stops (an include cycle or a self-referencing \def would otherwise never end).
ARXIV_MAX_INCLUDE_DEPTH = 16
ARXIV_MAX_MACRO_DEPTH = 32

# RedPajama v1 GitHub allow-list (data_prep/github/github_run_filter.py, ``extensions_whitelist``): 64
# extensions plus the file names Dockerfile and Makefile (66 entries); matched case-sensitively (.C/.H are C++), with the
# language each names (our label, for ``meta``; .m is Objective-C or MATLAB).
GITHUB_EXTENSION_LANGUAGES: dict[str, str] = {
    ".asm": "Assembly", ".bat": "Batchfile", ".cmd": "Batchfile", ".c": "C", ".h": "C", ".cs": "C#",
    ".cpp": "C++", ".hpp": "C++", ".c++": "C++", ".h++": "C++", ".cc": "C++", ".hh": "C++", ".C": "C++", ".H": "C++",
    ".cmake": "CMake", ".css": "CSS", ".dockerfile": "Dockerfile",
    ".f90": "Fortran", ".f": "Fortran", ".f03": "Fortran", ".f08": "Fortran", ".f77": "Fortran", ".f95": "Fortran",
    ".for": "Fortran", ".fpp": "Fortran", ".go": "Go", ".hs": "Haskell", ".html": "HTML", ".java": "Java",
    ".js": "JavaScript", ".jl": "Julia", ".lua": "Lua", ".md": "Markdown", ".markdown": "Markdown",
    ".php": "PHP", ".php3": "PHP", ".php4": "PHP", ".php5": "PHP", ".phps": "PHP", ".phpt": "PHP",
    ".pl": "Perl", ".pm": "Perl", ".pod": "Perl", ".perl": "Perl", ".ps1": "PowerShell", ".psd1": "PowerShell",
    ".psm1": "PowerShell", ".py": "Python", ".rb": "Ruby", ".rs": "Rust", ".sql": "SQL", ".scala": "Scala",
    ".sh": "Shell", ".bash": "Shell", ".command": "Shell", ".zsh": "Shell", ".ts": "TypeScript", ".tsx": "TypeScript",
    ".tex": "TeX", ".vb": "Visual Basic", ".xml": "XML", ".rst": "reStructuredText", ".m": "Objective-C",
    ".smali": "Smali",
}
GITHUB_FILE_NAME_LANGUAGES: dict[str, str] = {"Dockerfile": "Dockerfile", "Makefile": "Makefile"}
# RedPajama v1 (data_prep/github/github_clean_dedup_local.py): certificates are skipped.
GITHUB_SKIP_SUFFIXES: tuple[str, ...] = (".crt",)

# CCNet line dedup: hashes are pooled over a group of shards drawn within one snapshot (RECIPE.md; cc_net's
# mine.py Config: hash_in_mem=50 of num_shards=1,600 per snapshot, i.e. 1/32 of it; RedPajama v1's 1-shard
# groups are the defect not to copy). Groups never span two snapshots, so a new snapshot leaves the groups
# of the earlier ones as they were. 0 = each snapshot's parts in one group.
LINE_DEDUP_GROUP_SIZE = 50
# Ours: a group's line hashes are counted in this many hash-range buckets, each on its own (a worker's
# memory holds one bucket's distinct hashes, 1/16 of the group's); the result does not depend on it.
LINE_DEDUP_HASH_BUCKETS = 16
# Ours: exact dedup groups the corpus's document hashes in this many hash-prefix buckets, each on its own;
# the removals do not depend on it.
EXACT_DEDUP_HASH_BUCKETS = 16

# --- Gopher quality and repetition rules (Rae et al. 2021, Gopher, section A.1.1 and Table A1;
# RECIPE.md "Gopher quality rules"; datatrove's GopherQualityFilter/GopherRepetitionFilter defaults match) ---
GOPHER_MIN_WORDS = 50
GOPHER_MAX_WORDS = 100_000
GOPHER_MIN_MEAN_WORD_CHARS = 3.0
GOPHER_MAX_MEAN_WORD_CHARS = 10.0
# '#' per word and ellipsis ('...' or '…') per word, each.
GOPHER_MAX_SYMBOL_WORD_RATIO = 0.1
GOPHER_MAX_BULLET_LINES_RATIO = 0.9
GOPHER_MAX_ELLIPSIS_LINES_RATIO = 0.3
GOPHER_MIN_ALPHA_WORDS_RATIO = 0.8
GOPHER_MIN_STOP_WORDS = 2
GOPHER_STOP_WORDS: tuple[str, ...] = ("the", "be", "to", "of", "and", "that", "have", "with")
GOPHER_MAX_DUP_LINE_FRAC = 0.3
GOPHER_MAX_DUP_PARA_FRAC = 0.3
GOPHER_MAX_DUP_LINE_CHAR_FRAC = 0.2
GOPHER_MAX_DUP_PARA_CHAR_FRAC = 0.2
# (n, max share of characters in the most frequent n-gram)
GOPHER_TOP_NGRAM_CHAR_FRAC: tuple[tuple[int, float], ...] = ((2, 0.20), (3, 0.18), (4, 0.16))
# (n, max share of characters in duplicated n-grams)
GOPHER_DUP_NGRAM_CHAR_FRAC: tuple[tuple[int, float], ...] = (
    (5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))

# Ours: a language's perplexity percentiles over the snapshot need this many scored documents; with fewer,
# the trained model's reference distribution gives the cut-offs (percentiles of a handful of documents are
# noise: the 60th percentile of three documents throws one away whatever it is).
PERPLEXITY_MIN_DOCS_FOR_PERCENTILES = 100
# cc_net/perplexity.py (perplexity_to_bin): the statistics behind its cut-offs keep at most 1,000,000
# scores. Ours: the per-language hash-priority sample the snapshot percentiles are taken over (bounded memory).
PERPLEXITY_SAMPLE_DOCS = 1_000_000
# Ours: how many held-out Wikipedia documents and reference web pages a trained model scores for its
# calibration (hash-priority samples).
PERPLEXITY_REFERENCE_MAX_DOCS = 2_000
# Ours: the web pages a trained model is calibrated on, per language: C4 (Raffel et al. 2020) is English
# Common Crawl after C4's rules, not the snapshot being filtered.
PERPLEXITY_WEB_REFERENCE_SOURCES: dict[str, tuple[str, ...]] = {"en": ("c4",)}
# Ours: for a language with no reference web pages, the percentiles of the model's held-out Wikipedia
# scores used as (head/middle, middle/tail) cut-offs: where the web reference's 30th/60th percentiles fall
# on the Wikipedia reference in English, the one language of the samples with both (94.2 and 95.1, 103
# Wikipedia documents: coarse; checked by tests/corpus/filters/test_perplexity.py).
PERPLEXITY_WIKI_REFERENCE_PERCENTILES = (94.0, 95.0)
# Ours: fastText's hash buckets for the wiki-ref classifier. fastText's default (2M x dim floats, ~800 MB
# even with wordNgrams=1, where buckets are unused) made training fail with spurious "Encountered NaN" in
# most runs here; 200k trains every time (measured 12/12 vs 4/12) at 1/10 the memory.
WIKIREF_FASTTEXT_BUCKET = 200_000

# --- LLaMA-3 URL and dirty-word filtering (LLaMA-3 section 3.1.1 "PII and safety filtering",
# "Heuristic filtering") ---
# UT1 (Universite Toulouse 1 Capitole) blocklist categories. FineWeb / datatrove's URLFilter: "adult". RefinedWeb
# (Penedo et al. 2023, G.1.1) used more: adult, phishing, dating, gambling, filehosting, ddos, agressif, chat,
# mixed_adult, arjel. The lists themselves are configured (a path or e.g.
# https://dsi.ut-capitole.fr/blacklists/download/blacklists.tar.gz), never committed.
URL_BLOCKLIST_CATEGORIES: tuple[str, ...] = ("adult",)
# datatrove URLFilter (soft_word_threshold=2, after RefinedWeb G.1.2): a URL with >= 2 distinct soft-banned words.
URL_SOFT_BANNED_WORDS_THRESHOLD = 2
# LLaMA-3 (3.1.1) counts "dirty words" (after C4, Raffel et al. 2020) to remove adult pages the domain lists miss,
# without a number. C4 drops a page with any word of LDNOOBW (max 0), which removes medical and LGBTQ pages
# (Dodge et al. 2021, "Documenting large webtext corpora"). Ours: more than 2 whole-word occurrences drop a page.
DIRTY_WORDS_MAX_COUNT = 2

# --- LLaMA-3 / DCLM model-based quality classifier ---
# LLaMA-3 (3.1.1): positives from high-quality sources (DCLM, Li et al. 2024: OpenHermes-2.5 and
# ELI5 question + top answer; ours: the curated sources of the mixture, StackExchange as question + top answer).
QUALITY_CLASSIFIER_POSITIVE_SOURCES: tuple[str, ...] = ("wikipedia", "books", "stackexchange", "arxiv")
# The negatives: DCLM's __label__cc is "web-crawled data from Common Crawl" (Li et al. 2024, 4.4; the
# mlfoundations/fasttext-oh-eli5 model card), random pages of the pool, not the pages left after the filters
# before the classifier (on the samples: 74 pages, already narrowed towards the positives by the perplexity and
# wikiref filters; the model learnt nothing: held-out document AUC 0.58 on 18 + 18 documents, every page scored
# 0.5000-0.5001; with these negatives, 224 pages: AUC 0.91 on 52 + 52, kept 0.646-0.676, dropped median 0.568,
# measured by the llama3 samples build). Ours: the web pages
# after CCNet's line dedup + language ID (the wikiref classifier's negatives too), English pages as the ones
# it ranks; a source that does not run that stage (C4) gives its pages at the last stage it runs before it.
# Bounded and deterministic: the hash-priority example pools of quality_models.wikiref.ExamplePools.
QUALITY_CLASSIFIER_NEGATIVE_STAGE = "langid"
# DCLM-Baseline keeps the top 10% of its pool by the fastText classifier's score (a rank, not a probability).
QUALITY_CLASSIFIER_KEEP_FRACTION = 0.1
# DCLM's classifier is a bigram fastText model (wordNgrams 2); the other fastText settings as the wikiref model's.
QUALITY_CLASSIFIER_FASTTEXT_WORD_NGRAMS = 2
# Ours: the top-fraction cut-off is taken over a hash-priority sample of at most this many of the snapshot's
# documents (bounded memory), as the perplexity percentiles (cc_net keeps 1,000,000 scores).
QUALITY_CLASSIFIER_SAMPLE_DOCS = 1_000_000

# --- Recipe presets (corpus/presets.py) ---
# Ours: the sources the LLaMA-3 web stages (URL filter, heuristics, quality classifier) run on. LLaMA-3
# (Dubey et al. 2024, section 3.1.1) applies them to its web data; C4 is already Common Crawl after C4's
# own rules (Raffel et al. 2020), so it takes them only when the run config adds it.
LLAMA3_WEB_SOURCES: tuple[str, ...] = ("commoncrawl",)

# --- C4 rules (Raffel et al. 2020, section 2.2 "Colossal Clean Crawled Corpus"; the reference
# code is tensorflow_datasets' c4_utils.clean_page, whose defaults datatrove's C4QualityFilter repeats) ---
# a line is kept only if it ends in one of these (c4_utils: _END_MARKS) and not in an ellipsis
C4_END_PUNCTUATION: tuple[str, ...] = (".", "?", "!", '"', "'")
C4_MIN_WORDS_PER_LINE = 3          # paper: "only retained lines that contained at least 3 words"
C4_MIN_SENTENCES = 5               # paper: "discarded any page with fewer than 5 sentences"
C4_MAX_WORD_CHARS = 1000           # c4_utils: a line with a word longer than 1000 characters is removed
# c4_utils (_CITATION_REGEX; datatrove's CITATION_REGEX): Wikipedia-style citation marks removed from lines
C4_CITATION_PATTERN = r"\[\d*\]|\[edit\]|\[citation needed\]"
# c4_utils (_POLICY_SUBSTRINGS): lines naming a site's policies are removed
C4_POLICY_SUBSTRINGS: tuple[str, ...] = (
    "terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")

# --- FineWeb quality rules (Penedo et al. 2024, FineWeb, section 3.5 "custom filters"; the
# thresholds are datatrove 0.10.1's FineWebQualityFilter defaults, which the paper's release ran) ---
FINEWEB_MIN_LINE_PUNCT_RATIO = 0.12     # fraction of non-empty lines ending in punctuation, at least
FINEWEB_MAX_SHORT_LINE_RATIO = 0.67     # fraction of non-empty lines of <= 30 characters, at most
FINEWEB_SHORT_LINE_CHARS = 30
FINEWEB_MAX_DUP_LINE_CHAR_RATIO = 0.01  # characters in repeated non-empty lines / characters without '\n'
FINEWEB_MAX_NEWLINES_PER_WORD = 0.3     # '\n' count / words, at most
# Ours: the line endings that count as punctuation: the sentence terminals of the scripts in use today (a
# subset of datatrove's TERMINAL_PUNCTUATION, which also lists historic scripts'; after English LID the
# difference does not matter).
FINEWEB_LINE_END_CHARS = ".!?‼‽⁇⁈⁉。！？．｡؟۔।॥։።፧፨᙮᠃᠉꓿꘎꘏﹒﹖﹗"

# --- Semantic dedup, SemDeDup (Abbas et al. 2023, "SemDeDup: Data-efficient learning at web-scale
# through semantic deduplication"; LLaMA-3 section 3.1.1; NeMo Curator's semantic dedup) ---
# The sources semantically deduplicated are the preset's web sources (LLAMA3_WEB_SOURCES; LLaMA-3: its web data);
# the stage passes the other sources' documents through.
# Ours: the sources the document-embedding model is trained on besides those: on the samples 87 curated Common
# Crawl pages are too few to learn word vectors from; Wikipedia gives the vocabulary (and is real prose).
SEMDEDUP_EMBEDDING_EXTRA_SOURCES: tuple[str, ...] = ("wikipedia",)
# NeMo Curator (SemanticClusterLevelDedup / the semdedup config): eps 0.01, i.e. a pair with cosine >= 0.99 is a
# duplicate. Measured with our embeddings (tests/assets/test_semantic_dedup.py's corpus): 40 paraphrases of real
# Wikipedia articles (sentences shuffled, 30% of the words WordNet synonyms) have cosine 0.991 (min) / 0.998
# (median) to their original; the closest two of the 106 distinct articles (Algeria / Albania) 0.9725, the seven
# Angola articles at most 0.90 to each other. eps 0.01 removes 40/40 pairs and nothing else; 0.005 finds 32/40;
# 0.03 also merges Algeria with Albania.
SEMDEDUP_EPS = 0.01
# The eps values whose removal counts the metadata reports (NeMo Curator: "look before choosing").
SEMDEDUP_EPS_REPORTED: tuple[float, ...] = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1)
# NeMo Curator's default n_clusters (1000); SemDeDup's k-means clusters. Capped on a small corpus so that a
# cluster gets at least SEMDEDUP_MIN_DOCS_PER_CLUSTER documents: faiss's own minimum points per centroid (39),
# below which its k-means warns that training is unreliable.
SEMDEDUP_CLUSTERS = 1000
SEMDEDUP_MIN_DOCS_PER_CLUSTER = 39
# faiss's default max_points_per_centroid: k-means trains on at most k * 256 documents (a hash-priority sample).
SEMDEDUP_KMEANS_MAX_DOCS_PER_CLUSTER = 256
# NeMo Curator's k-means max_iter is 300 (cuML); faiss's default niter is 25, with which spherical k-means on
# these embeddings is stable. Ours: 25 iterations, seed 1234 (faiss.Kmeans' default seed).
SEMDEDUP_KMEANS_ITERATIONS = 25
SEMDEDUP_KMEANS_SEED = 1234
# Ours: the embeddings of one group of clusters are held at once (the within-cluster similarities); the clusters
# are split into as many groups (cluster id modulo the group count) as keep a group under this size.
SEMDEDUP_GROUP_BYTES = 256 << 20
# Ours: rows of a cluster whose similarities to all its members are computed at once (NeMo's batched cosine: 1024).
SEMDEDUP_SIMILARITY_BLOCK = 1024
# The document embedding: fastText unsupervised word vectors trained by the project on the corpus (no embedding
# model can be downloaded here), averaged per document with SIF weights a / (a + p(word)) (Arora et al. 2017,
# "A simple but tough-to-beat baseline for sentence embeddings": a = 1e-3) and centred on the corpus mean (the
# common component: without it every pair of long English documents has cosine > 0.99, measured on the samples).
# fastText's skipgram (in a first trial with minCount 3, cbow's vectors separated paraphrases from distinct
# articles far worse: minimum paraphrase cosine 0.83 vs skipgram's 0.97), dim 64 (fastText's default is 100; 64
# trains in ~20 s on the 3 MB of English Wikipedia of the samples on an idle core; benchmarks/bench_semantic_dedup.py),
# 5 epochs and fastText's minCount 5, one thread (fastText's training is reproducible only on one thread).
SEMDEDUP_FASTTEXT_MODEL = "skipgram"
SEMDEDUP_FASTTEXT_DIM = 64
SEMDEDUP_FASTTEXT_EPOCH = 5
SEMDEDUP_FASTTEXT_MIN_COUNT = 5
SEMDEDUP_SIF_A = 1e-3
# Ours: the embedding model is trained on at most this many characters (a hash-priority share of the documents).
SEMDEDUP_MAX_TRAIN_CHARS = 200_000_000
