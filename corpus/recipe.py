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
# Ours (issue 4): with fewer matched Wikipedia-cited pages than this, the classifier uses the curated fallback.
WIKIREF_MIN_POSITIVES = 100
# Ours (issue 13): the keep rule of a fallback classifier (Wikipedia/Books paragraphs vs web pages), whose
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

# --- Mixture, token shards, pretraining (issue 6) ---
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

# Near dedup at scale (issue 5). datasketch MinHashLSH default: equal false-positive / false-negative
# weights when choosing bands x rows for a threshold (datasketch.lsh._optimal_param).
MINHASH_FP_FN_WEIGHTS = (0.5, 0.5)
# RECIPE.md near-dedup: "partition the band table by hash so each part fits in memory and runs
# independently" -- the number of band-hash-prefix partitions (a power of two).
NEAR_DEDUP_BAND_PARTITIONS = 16
# RECIPE.md Books: LLaMA-1's "> 90% content overlap" measured for real: candidate pairs touching these
# sources are checked by exact Jaccard of their shingle sets (books at BOOKS_NEAR_DUP_JACCARD).
NEAR_DEDUP_VERIFY_SOURCES: tuple[str, ...] = ("books",)

# --- Books, ArXiv, StackExchange readers (issue 3) ---
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

# CCNet line dedup: hashes are pooled over a group of shards (CCNet: 50 of a snapshot's 1,600 shards;
# RedPajama v1's 1-shard groups are the defect not to copy). 0 = every commoncrawl part in one group.
LINE_DEDUP_GROUP_SIZE = 0

# --- Gopher quality and repetition rules (issue 9; Rae et al. 2021, Gopher, section A.1.1 and Table A1;
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

# --- Recipe presets (issue 18; corpus/presets.py) ---
# Ours: the sources the LLaMA-3 web stages (URL filter, heuristics, quality classifier) run on. LLaMA-3
# (Dubey et al. 2024, section 3.1.1) applies them to its web data; C4 is already Common Crawl after C4's
# own rules (Raffel et al. 2020), so it takes them only when the run config adds it.
LLAMA3_WEB_SOURCES: tuple[str, ...] = ("commoncrawl",)

# --- Semantic dedup, SemDeDup (issue 18; Abbas et al. 2023, "SemDeDup: Data-efficient learning at web-scale
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
