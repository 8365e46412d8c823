"""CCNet perplexity filter: normalise, tokenise, score with a per-language KenLM model, bucket.

Two passes, because the buckets are per-language percentiles of the data being filtered:
1. ``score_part`` scores every document of a part (written to ``work/perplexity/scores/<part>``);
2. ``percentile_cutoffs`` (or CCNet's published ``ccnet_cutoffs``) fixes the head/middle and
   middle/tail cut-offs; ``bucket_filter`` then fills ``perplexity`` and ``bucket`` and drops the tail.

Perplexity is CCNet's: 10 ** (-sum(log10 P(line)) / sum(words(line) + 1)) over the document's
lines, each scored with ``<s>``/``</s>``. One difference from cc_net: lines empty after
normalisation are not scored (cc_net scores them as a bare ``</s>``, which lowers the perplexity of
documents with many blank lines). A document with no scorable line gets perplexity +inf (tail).
"""
from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus.stage import BatchFilter, drops_table
from corpus.storage import FINGERPRINT_KEY, iter_batches, part_is_current, write_table_atomic

STAGE = "perplexity"
BUCKETS = ("head", "middle", "tail")
DROP_TAIL = "perplexity_tail"
NO_MODEL = "no_lm_for_lang"
SCORES_SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("lang", pa.string()),
                           pa.field("perplexity", pa.float64())])

# cc_net/text_normalizer.py UNICODE_PUNCT (punct=1: replace by ASCII). cc_net's entry "１" -> '"' is
# left out: digits are turned into 0 before this table is applied, so it could never fire.
UNICODE_PUNCT = {
    "，": ",", "。": ".", "、": ",", "„": '"', "”": '"', "“": '"', "«": '"', "»": '"', "」": '"',
    "「": '"', "《": '"', "》": '"', "´": "'", "∶": ":", "：": ":", "？": "?", "！": "!", "（": "(",
    "）": ")", "；": ";", "–": "-", "—": " - ", "．": ". ", "～": "~", "’": "'", "…": "...", "━": "-",
    "〈": "<", "〉": ">", "【": "[", "】": "]", "％": "%", "►": "-",
}
_NON_PRINTING = frozenset([*range(0, 32), *range(127, 160)])


class _CharMap(dict):
    """cc_net's per-character steps after lowercasing and NFD as one ``str.translate`` table, filled the
    first time a character is seen: combining marks (Mn) dropped (strip accents), digits (Nd) -> 0,
    UNICODE_PUNCT -> ASCII, non-printing characters dropped. The steps touch disjoint characters and
    write none another step touches, so one pass equals cc_net's chain of regexes."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        category = unicodedata.category(char)
        if category == "Mn" or code in _NON_PRINTING:
            self[code] = None
        else:
            self[code] = "0" if category == "Nd" else UNICODE_PUNCT.get(char, char)
        return self[code]


_CHAR_MAP = _CharMap()


def normalize_line(line: str) -> str:
    """cc_net ``normalize(line, accent=True, case=True, numbers=True, punct=1)``."""
    return unicodedata.normalize("NFD", line.strip().lower()).translate(_CHAR_MAP)


def normalized_lines(text: str) -> list[str]:
    """The document's non-empty lines after normalisation (the units KenLM scores)."""
    return [n for n in map(normalize_line, text.split("\n")) if n]


def pp(log10_score: float, length: int) -> float:
    return 10.0 ** (-log10_score / length) if length else float("inf")


def metaspace_words(line: str) -> list[str]:
    """The words ``pre_tokenizers.Metaspace()`` (prepend_scheme "always", split) cuts a line into, less
    their leading "▁": every space or "▁" starts a word, and one is prepended unless the line starts with one."""
    spaced = line.replace("▁", " ")
    return (spaced[1:] if spaced.startswith(" ") else spaced).split(" ")


def check_metaspace_bpe(tokenizer) -> None:
    """``LanguageModel.tokenize`` splits words itself: the tokenizer must be what ``train_tokenizer`` makes."""
    from tokenizers import pre_tokenizers

    pre = tokenizer.pre_tokenizer
    if not (tokenizer.normalizer is None and isinstance(pre, pre_tokenizers.Metaspace) and pre.split
            and pre.replacement == "▁" and pre.prepend_scheme == "always"):
        raise ValueError(f"unsupported KenLM tokenizer (want no normaliser and the default Metaspace): {pre!r}")


class WordPieces(dict):
    """word -> its space-separated pieces, filled on first use: ``Tokenizer.encode`` spends most of its
    time on per-character offsets KenLM never reads, while a language's words repeat (Zipf)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def __missing__(self, word: str) -> str:
        self[word] = " ".join(t.value for t in self.model.tokenize("▁" + word))
        return self[word]


class LanguageModel:
    """One language's tokenizer + KenLM model, loaded lazily (heavy state stays out of pickles)."""

    WORD_CACHE = 1 << 18  # words whose pieces are memoised, per language (tens of MB at most)

    def __init__(self, tokenizer_path: Path, lm_path: Path):
        self.tokenizer_path, self.lm_path = Path(tokenizer_path), Path(lm_path)
        self._tok = self._lm = self._pieces = None

    @property
    def tokenizer(self):
        if self._tok is None:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(self.tokenizer_path))
            check_metaspace_bpe(tokenizer)
            self._tok = tokenizer
        return self._tok

    @property
    def pieces(self) -> WordPieces:
        if self._pieces is None:
            self._pieces = WordPieces(self.tokenizer.model)
        return self._pieces

    def tokenize(self, lines: Sequence[str]) -> list[str]:
        """Normalised lines -> space-separated pieces (the text KenLM was trained on); equal to
        ``" ".join(tokenizer.encode(line).tokens)`` except that a "⁇" in the text is not the special token."""
        if len(self.pieces) > self.WORD_CACHE:
            self.pieces.clear()
        pieces = self.pieces.__getitem__
        return [" ".join(map(pieces, metaspace_words(line))) for line in lines]

    def line_scores(self, tokenized: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(log10 P(line) with <s> and </s>, pieces + 1) per tokenized line. Pieces hold no space, so the
        count is that of the pieces KenLM scored (``str.split`` would also cut at a "\\xa0" inside a piece)."""
        if self._lm is None:
            import kenlm

            self._lm = kenlm.Model(str(self.lm_path))
        score = self._lm.score
        logs = np.fromiter((score(line, bos=True, eos=True) for line in tokenized), np.float64, len(tokenized))
        spaces = np.fromiter((line.count(" ") for line in tokenized), np.int64, len(tokenized))
        return logs, spaces + 2

    def perplexities(self, texts: Sequence[str]) -> np.ndarray:
        """CCNet document perplexity of each text (the lines of all texts scored in one pass, summed per text)."""
        per_text = [normalized_lines(text) for text in texts]
        owner = np.repeat(np.arange(len(texts)), [len(lines) for lines in per_text])
        logs, lengths = self.line_scores(self.tokenize([line for lines in per_text for line in lines]))
        doc_log = np.bincount(owner, weights=logs, minlength=len(texts))
        doc_len = np.bincount(owner, weights=lengths, minlength=len(texts))
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.power(10.0, -doc_log / doc_len)
        out[doc_len == 0] = np.inf
        return out


class PerplexityScorer:
    """Every language of a trained model set (``quality_models.kenlm_model`` manifest)."""

    def __init__(self, model_dir: Path):
        self.model_dir = Path(model_dir)
        manifest = json.loads((self.model_dir / "manifest.json").read_text())
        self.version = manifest["version"]
        self.models = {lang: LanguageModel(self.model_dir / m["tokenizer"], self.model_dir / m["lm"])
                       for lang, m in sorted(manifest["languages"].items())}

    @property
    def languages(self) -> list[str]:
        return list(self.models)

    def score(self, texts: Sequence[str], langs: Sequence[str | None]) -> np.ndarray:
        """Perplexity per document; NaN where the language has no model."""
        out = np.full(len(texts), np.nan)
        langs_arr = np.asarray([lang or "" for lang in langs], dtype=object)
        for lang in sorted(set(langs_arr) & set(self.models)):
            idx = np.flatnonzero(langs_arr == lang)
            out[idx] = self.models[lang].perplexities([texts[i] for i in idx])
        return out


def score_table(batch: pa.RecordBatch | pa.Table, scorer: PerplexityScorer) -> pa.Table:
    texts = batch.column("text").to_pylist()
    langs = batch.column("lang").to_pylist()
    return pa.Table.from_arrays([batch.column("id"), pa.array(langs, pa.string()),
                                 pa.array(scorer.score(texts, langs), pa.float64())], schema=SCORES_SCHEMA)


def score_part(part: Path, out: Path, scorer: PerplexityScorer, part_fingerprint: str) -> Path:
    """Pass 1 for one part: (id, lang, perplexity) to ``out``; skipped when already current."""
    if not part_is_current(out, part_fingerprint):
        tables = [score_table(b, scorer) for b in iter_batches([part], columns=["id", "text", "lang"])]
        table = pa.concat_tables(tables) if tables else SCORES_SCHEMA.empty_table()
        write_table_atomic(out, table, {FINGERPRINT_KEY: part_fingerprint.encode()})
    return out


def read_scores(paths: Iterable[Path]) -> pa.Table:
    tables = [pq.read_table(p).select(SCORES_SCHEMA.names).cast(SCORES_SCHEMA) for p in paths]
    return pa.concat_tables(tables) if tables else SCORES_SCHEMA.empty_table()


def percentile_cutoffs(scores: pa.Table, percentiles: Sequence[float]) -> tuple[dict[str, tuple[float, float]], dict[str, int]]:
    """Per-language (head/middle, middle/tail) cut-offs at the given percentiles of the data, and how
    many documents each language's percentiles rest on."""
    langs = np.asarray(scores.column("lang").to_pylist(), dtype=object)
    ppl = scores.column("perplexity").to_numpy(zero_copy_only=False)
    cutoffs, sizes = {}, {}
    for lang in sorted({lang for lang in langs if lang}):
        values = ppl[(langs == lang) & ~np.isnan(ppl)]
        if values.size:
            lo, hi = np.percentile(values, list(percentiles), method="linear")
            cutoffs[lang], sizes[lang] = (float(lo), float(hi)), int(values.size)
    return cutoffs, sizes


def choose_cutoffs(scores: pa.Table, mode: str, percentiles: Sequence[float],
                   published: Mapping[str, tuple[float, float]],
                   min_docs: int = 0) -> tuple[dict[str, tuple[float, float]], dict[str, str]]:
    """Cut-offs per language and where each came from (``percentile``, ``ccnet`` or ``ccnet_small_sample``).

    ``mode="ccnet"`` uses CCNet's published values where CCNet published one for the language, and
    the data's percentiles for the others (reported as such, never silently). In ``percentile`` mode a
    language with fewer than ``min_docs`` scored documents also takes CCNet's published values when
    there are some: the 60th percentile of three documents would throw one of them away whatever it is.
    """
    if mode not in ("percentile", "ccnet"):
        raise ValueError(f"cutoffs must be 'percentile' or 'ccnet', not {mode!r}")
    cutoffs, sizes = percentile_cutoffs(scores, percentiles)
    origin = dict.fromkeys(cutoffs, "percentile")
    for lang in cutoffs:
        if lang in published and (mode == "ccnet" or sizes[lang] < min_docs):
            cutoffs[lang] = tuple(map(float, published[lang]))
            origin[lang] = "ccnet" if mode == "ccnet" else "ccnet_small_sample"
    return cutoffs, origin


def assign_buckets(ppl: np.ndarray, langs: Sequence[str | None], cutoffs: Mapping[str, tuple[float, float]]) -> list[str | None]:
    """head < lo <= middle < hi <= tail; None where the language has no cut-offs or no score."""
    out: list[str | None] = [None] * len(ppl)
    for i, (value, lang) in enumerate(zip(ppl, langs)):
        cut = cutoffs.get(lang or "")
        if cut is None or np.isnan(value):
            continue
        out[i] = "head" if value < cut[0] else "middle" if value < cut[1] else "tail"
    return out


def bucket_filter(scores: pa.Table, cutoffs: Mapping[str, tuple[float, float]], keep_buckets: Sequence[str],
                  drop_without_model: bool, source: str) -> BatchFilter:
    """Pass 2: fill ``perplexity``/``bucket`` from a part's pass-1 scores; drop buckets not kept.

    A document whose language has no model keeps ``perplexity``/``bucket`` null and is kept, or
    dropped as ``no_lm_for_lang`` when ``drop_without_model``.
    """
    keep = set(keep_buckets)

    def process(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.Table]:
        idx = pc.index_in(batch.column("id"), value_set=scores.column("id"))
        if idx.null_count:
            raise ValueError("a document has no pass-1 perplexity score (scores are stale)")
        ppl = scores.column("perplexity").take(idx).to_numpy(zero_copy_only=False)
        langs = batch.column("lang").to_pylist()
        buckets = assign_buckets(ppl, langs, cutoffs)
        ppl_col = pa.array(np.where(np.isnan(ppl), None, ppl).tolist(), pa.float32())
        out = batch.set_column(batch.schema.get_field_index("perplexity"), "perplexity", ppl_col)
        out = out.set_column(out.schema.get_field_index("bucket"), "bucket", pa.array(buckets, pa.string()))
        reasons = [None if (b in keep or (b is None and not drop_without_model)) else
                   NO_MODEL if b is None else DROP_TAIL if b == "tail" else f"perplexity_{b}" for b in buckets]
        dropped = np.asarray([r is not None for r in reasons])
        detail = [None if r is None else f"lang={lang} perplexity={p:.1f}" for r, lang, p in zip(reasons, langs, ppl)]
        drops = drops_table(pc.filter(batch.column("id"), pa.array(dropped)), source, STAGE,
                            [r for r in reasons if r is not None], [d for d in detail if d is not None])
        return out.filter(pa.array(~dropped)), drops

    return process
