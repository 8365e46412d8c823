"""CCNet perplexity filter: normalise, tokenise with SentencePiece, score with a per-language KenLM model, bucket.

Scoring is cc_net's (``mine.py``: ``MultiSentencePiece(normalize=True)`` then ``DocLM(normalize=False)``):
the whole document is normalised at once, and since the normalisation drops non-printing characters,
newlines included, it becomes one line; ``sp.encode_as_pieces`` cuts it into pieces, KenLM scores the
space-joined pieces with ``<s>``/``</s>``, and the perplexity is ``round(10 ** (-log10 P / (words + 1)), 1)``
with ``words = len(line.split())``. One difference: a document empty after normalisation gets +inf (tail),
where cc_net leaves it unscored (bucket "all"). Both kinds of model set score this way: CCNet's released
``<lang>.sp.model`` + ``<lang>.arpa.bin`` (``kind: ccnet``) and the ones the project trains in the same
format (``kind: trained``, ``quality_models.kenlm_model``).

Two passes, because buckets are per-language cut-offs over the data being filtered:
1. ``score_part`` scores every document of a part (``work/perplexity/scores/<part>``), and a bounded
   hash-priority ``ScoreSample`` pools the scores per language;
2. ``choose_cutoffs`` fixes (head/middle, middle/tail) per language (``LanguageCutoffs.origin`` says from
   what: CCNet's published values, only for CCNet's own models; the snapshot's percentiles with enough
   documents; otherwise the reference distribution the trained model carries), ``CutoffTable`` persists
   them per snapshot, and ``bucket_filter`` fills ``perplexity``/``bucket`` and drops the tail.
"""
from __future__ import annotations

import json
import os
import sys
import unicodedata
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from corpus import part_runners, plots, recipe, snapshots
from corpus.executors import ExecutionSummary, executor_from_env
from corpus.model_cache import kenlm_model, sentencepiece_model
from corpus.filters.base import DocumentFilter, Judgement
from corpus.part_runners import Unit, code_fingerprint, filter_part, upstream_fingerprint
from corpus.progress import Progress
from corpus.storage import PartStats, PartWriter, iter_batches, part_is_current, write_table_atomic
from corpus.fingerprints import fingerprint, FINGERPRINT_KEY

STAGE = "perplexity"
BUCKETS = ("head", "middle", "tail")
DROP_TAIL = "perplexity_tail"
NO_MODEL = "no_lm_for_lang"
BUCKET_COUNTER = "bucket:"
SOURCE = "commoncrawl"  # CCNet's steps run on Common Crawl
SCORES_SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("lang", pa.string()),
                           pa.field("perplexity", pa.float64())])
SP_SUFFIX, LM_SUFFIX = ".sp.model", ".arpa.bin"  # CCNet's released file names, per language
KINDS = ("trained", "ccnet")
# Where a language's cut-offs come from (CutoffTable); the first two are final for a snapshot.
CCNET_PUBLISHED, SNAPSHOT_PERCENTILES = "ccnet_published", "snapshot_percentiles"
WEB_REFERENCE, WIKIPEDIA_REFERENCE, NO_CUTOFFS = "model_web_reference", "model_wikipedia_reference", "none"
FINAL_ORIGINS = (CCNET_PUBLISHED, SNAPSHOT_PERCENTILES)

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


CCNET_CHAR_MAP = _CharMap()


def normalize_line(line: str) -> str:
    """cc_net ``normalize(line, accent=True, case=True, numbers=True, punct=1)``."""
    return unicodedata.normalize("NFD", line.strip().lower()).translate(CCNET_CHAR_MAP)


def normalized_lines(text: str) -> list[str]:
    """The document's non-empty lines after normalisation (the paragraphs KenLM is trained on)."""
    return [n for n in map(normalize_line, text.split("\n")) if n]


def pp(log10_score: float, length: int) -> float:
    return 10.0 ** (-log10_score / length) if length else float("inf")


class LanguageModel:
    """One language's SentencePiece + KenLM pair, loaded lazily and once per process (``corpus.model_cache``:
    heavy state stays out of pickles)."""

    def __init__(self, sp_path: Path, lm_path: Path):
        self.sp_path, self.lm_path = Path(sp_path), Path(lm_path)

    @property
    def sp(self):
        return sentencepiece_model(str(self.sp_path))

    @property
    def lm(self):
        return kenlm_model(str(self.lm_path))

    def tokenize(self, lines: Sequence[str]) -> list[str]:
        """Normalised lines -> space-joined SentencePiece pieces (``sp.encode_as_pieces``, batched)."""
        return [" ".join(pieces) for pieces in self.sp.encode(list(lines), out_type=str)]

    def line_scores(self, tokenized: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(log10 P(line) with <s> and </s>, ``len(line.split()) + 1``) per tokenized line, as ``DocLM``."""
        score = self.lm.score
        logs = np.fromiter((score(line) for line in tokenized), np.float64, len(tokenized))
        lengths = np.fromiter((len(line.split()) + 1 for line in tokenized), np.int64, len(tokenized))
        return logs, lengths

    def perplexities(self, texts: Sequence[str]) -> np.ndarray:
        """cc_net's document perplexity of each text: the whole normalised text as one line."""
        docs = [normalize_line(text) for text in texts]
        logs, lengths = self.line_scores(self.tokenize(docs))
        out = np.array([round(pp(float(lg), int(n)), 1) for lg, n in zip(logs, lengths)], np.float64)
        out[[not d for d in docs]] = np.inf
        return out


def language_files(lang: str) -> dict[str, str]:
    return {"sp": f"{lang}{SP_SUFFIX}", "lm": f"{lang}{LM_SUFFIX}"}


class PerplexityScorer:
    """Every language of a model set (a folder with ``manifest.json``: ``kind``, ``version``, ``languages``
    naming each language's ``sp`` and ``lm`` files, and for trained sets their ``calibration``)."""

    def __init__(self, model_dir: Path):
        self.model_dir = Path(model_dir)
        manifest = json.loads((self.model_dir / "manifest.json").read_text())
        self.version, self.kind = manifest["version"], manifest.get("kind", "trained")
        if self.kind not in KINDS:
            raise ValueError(f"{self.model_dir}: unknown perplexity model kind {self.kind!r} (known: {KINDS})")
        self.models = {lang: LanguageModel(self.model_dir / m["sp"], self.model_dir / m["lm"])
                       for lang, m in sorted(manifest["languages"].items())}
        self.calibration = {lang: m.get("calibration", {}) for lang, m in manifest["languages"].items()}

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


def read_scores(path: Path) -> pa.Table:
    return pq.read_table(path).select(SCORES_SCHEMA.names).cast(SCORES_SCHEMA)


def id_priorities(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A document's place in the hash-priority sample (xxh3 of its id): deterministic, order-free."""
    return np.fromiter((xxhash.xxh3_64_intdigest(i.encode()) for i in ids.to_pylist()), np.uint64, len(ids))


class ScoreSample:
    """Per language, the finite scores of the ``capacity`` documents of smallest id hash, and how many
    documents were scored: memory stays bounded however large the snapshot (exact below ``capacity``)."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self.counts: dict[str, int] = {}
        self._keys: dict[str, np.ndarray] = {}
        self._values: dict[str, np.ndarray] = {}

    def add(self, scores: pa.Table) -> None:
        ppl = scores.column("perplexity").to_numpy()
        langs = scores.column("lang").fill_null("")
        for lang in pc.unique(langs).to_pylist():
            mine = pc.equal(langs, lang).to_numpy(zero_copy_only=False) & ~np.isnan(ppl)
            if not lang or not mine.any():
                continue
            self.counts[lang] = self.counts.get(lang, 0) + int(mine.sum())
            finite = mine & np.isfinite(ppl)
            keys = np.concatenate([self._keys.get(lang, np.zeros(0, np.uint64)),
                                   id_priorities(scores.column("id").filter(pa.array(finite)))])
            values = np.concatenate([self._values.get(lang, np.zeros(0)), ppl[finite]])
            if keys.size > self.capacity:
                top = np.argpartition(keys, self.capacity - 1)[: self.capacity]
                keys, values = keys[top], values[top]
            self._keys[lang], self._values[lang] = keys, values

    def values(self, lang: str) -> np.ndarray:
        return np.sort(self._values.get(lang, np.zeros(0)))

    @property
    def languages(self) -> list[str]:
        return sorted(self.counts)


@dataclass(frozen=True)
class LanguageCutoffs:
    """(head/middle, middle/tail) of one language, where they came from and from how many documents."""

    lo: float
    hi: float
    origin: str
    docs: int

    @property
    def pair(self) -> tuple[float, float]:
        return (self.lo, self.hi)


def _percentiles(values: np.ndarray, percentiles: Sequence[float]) -> tuple[float, float]:
    lo, hi = np.percentile(values, list(percentiles), method="linear")
    return float(lo), float(hi)


def choose_cutoffs(sample: ScoreSample, scorer: PerplexityScorer, mode: str, percentiles: Sequence[float],
                   min_docs: int, published: Mapping[str, tuple[float, float]],
                   reference_percentiles: Sequence[float]) -> dict[str, LanguageCutoffs]:
    """Cut-offs for every language the sample scored, from data scored by the same model.

    ``mode="auto"``: with CCNet's released models, CCNet's published values where CCNet published them
    (they were measured with those very models); otherwise the snapshot's ``percentiles`` when the language
    has ``min_docs`` scored documents, else the trained model's calibration: the same percentiles of its own
    scores of reference web pages, or with none for the language, ``reference_percentiles`` of its scores of
    held-out Wikipedia. ``mode="percentile"`` never uses published values. ``mode="ccnet"`` insists on them and
    is refused for any other model: they mean nothing for another tokeniser, vocabulary and training text.
    A language with none of these has no cut-offs (its documents are treated as having no model).
    """
    if mode not in ("auto", "percentile", "ccnet"):
        raise ValueError(f"cutoffs must be 'auto', 'percentile' or 'ccnet', not {mode!r}")
    if mode == "ccnet" and scorer.kind != "ccnet":
        raise ValueError(f"CCNet's published cut-offs belong to CCNet's released models; model set "
                         f"{scorer.version} is {scorer.kind!r}: use cutoffs 'auto' or 'percentile'")
    out = {}
    for lang in sample.languages:
        values, n = sample.values(lang), sample.counts[lang]
        calibration = scorer.calibration.get(lang, {})
        if scorer.kind == "ccnet" and mode != "percentile" and lang in published:
            lo, hi = map(float, published[lang])
            out[lang] = LanguageCutoffs(lo, hi, CCNET_PUBLISHED, 0)
        elif n >= min_docs and values.size:
            out[lang] = LanguageCutoffs(*_percentiles(values, percentiles), SNAPSHOT_PERCENTILES, n)
        elif calibration.get("web"):
            ref = np.asarray(calibration["web"])
            out[lang] = LanguageCutoffs(*_percentiles(ref, percentiles), WEB_REFERENCE, int(ref.size))
        elif calibration.get("wikipedia"):
            ref = np.asarray(calibration["wikipedia"])
            out[lang] = LanguageCutoffs(*_percentiles(ref, reference_percentiles), WIKIPEDIA_REFERENCE, int(ref.size))
    return out


@dataclass
class CutoffTable:
    """The cut-offs a snapshot was bucketed with, one JSON file per (snapshot, model set, settings) under
    ``<root>/<snapshot>/<key>.json``. Later runs of the snapshot reuse every language whose cut-offs are
    final (published, or the snapshot's own percentiles), so a late file or a one-file run is bucketed as
    the rest was; cut-offs from a reference are recomputed until the snapshot has enough documents."""

    path: Path
    languages: dict[str, LanguageCutoffs]
    reused: list[str]

    @staticmethod
    def key(model_version: str, settings: Mapping) -> str:
        return fingerprint("perplexity-cutoffs", 1, model_version, dict(settings))

    @classmethod
    def resolve(cls, root: Path, snapshot: str, model_version: str, settings: Mapping,
                chosen: Mapping[str, LanguageCutoffs]) -> "CutoffTable":
        path = Path(root) / snapshot / f"{cls.key(model_version, settings)}.json"
        stored = {}
        if path.exists():
            stored = {lang: LanguageCutoffs(**c) for lang, c in json.loads(path.read_text())["languages"].items()}
        reused = sorted(lang for lang, c in stored.items() if c.origin in FINAL_ORIGINS)
        languages = {**dict(chosen), **{lang: stored[lang] for lang in reused}}
        if languages != stored:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex[:8]}")
            tmp.write_text(json.dumps({"snapshot": snapshot, "model_version": model_version, "settings": dict(settings),
                                       "languages": {lang: asdict(c) for lang, c in sorted(languages.items())}},
                                      indent=2, sort_keys=True))
            os.replace(tmp, path)
        return cls(path, dict(sorted(languages.items())), reused)

    @property
    def pairs(self) -> dict[str, tuple[float, float]]:
        return {lang: c.pair for lang, c in self.languages.items()}


def assign_buckets(ppl: np.ndarray, langs: Sequence[str | None], cutoffs: Mapping[str, tuple[float, float]]) -> list[str | None]:
    """head < lo <= middle < hi <= tail; None where the language has no cut-offs or no score."""
    langs_arr = np.asarray([lang or "" for lang in langs], dtype=object)
    code = np.full(len(ppl), -1)
    for lang, (lo, hi) in cutoffs.items():
        mine = (langs_arr == lang) & ~np.isnan(ppl)
        code[mine] = np.where(ppl[mine] < lo, 0, np.where(ppl[mine] < hi, 1, 2))
    return [BUCKETS[c] if c >= 0 else None for c in code]


@dataclass
class BucketFilter(DocumentFilter):
    """Pass 2: fill ``perplexity``/``bucket`` from a part's pass-1 scores; drop buckets not kept.

    A document whose language has no model keeps ``perplexity``/``bucket`` null and is kept, or
    dropped as ``no_lm_for_lang`` when ``drop_without_model``.
    """

    scores: pa.Table
    cutoffs: Mapping[str, tuple[float, float]]
    keep_buckets: Sequence[str]
    drop_without_model: bool
    source: str
    stage: str = STAGE
    snapshot: str = ""  # the cut-off table's snapshot, in the names of the bucket counters

    def judge(self, batch: pa.RecordBatch) -> Judgement:
        idx = pc.index_in(batch.column("id"), value_set=self.scores.column("id"))
        if idx.null_count:
            raise ValueError("a document has no pass-1 perplexity score (scores are stale)")
        ppl = self.scores.column("perplexity").take(idx).to_numpy(zero_copy_only=False)
        langs = batch.column("lang").to_pylist()
        buckets = assign_buckets(ppl, langs, self.cutoffs)
        keep = set(self.keep_buckets)
        counts = Counter(bucket_counter(self.snapshot, lang, b) if b is not None else NO_MODEL
                         for lang, b in zip(langs, buckets))
        reasons = [None if (b in keep or (b is None and not self.drop_without_model)) else
                   NO_MODEL if b is None else DROP_TAIL if b == "tail" else f"perplexity_{b}" for b in buckets]
        return Judgement(
            keep=np.asarray([r is None for r in reasons], bool), reasons=reasons,
            details=[f"lang={lang} perplexity={p:.1f}" for lang, p in zip(langs, ppl)],
            columns={"perplexity": pa.array(np.where(np.isnan(ppl), None, ppl).tolist(), pa.float32()),
                     "bucket": pa.array(buckets, pa.string())},
            counters=counts,
        )


def bucket_counter(snapshot: str, lang: str, bucket: str) -> str:
    """The part stats' counter of the documents of ``lang`` in ``bucket`` (a document with no bucket
    counts as ``NO_MODEL``)."""
    return f"{BUCKET_COUNTER}{snapshot}/{lang}/{bucket}"


def _score_part(scorer: PerplexityScorer, job: tuple[Path, Path, str]) -> Path:
    part, out, part_fingerprint = job
    return score_part(part, out, scorer, part_fingerprint)


def _bucket_part(writer: PartWriter, progress: Progress, path: Path, scores: Path, cutoffs: Mapping[str, tuple[float, float]],
                 keep_buckets: Sequence[str], drop_without_model: bool, snapshot: str) -> None:
    process = BucketFilter(read_scores(scores), cutoffs, keep_buckets, drop_without_model, SOURCE, snapshot=snapshot)
    filter_part(writer, iter_batches([path]), process, progress)


@dataclass
class PerplexityStage:
    """Pass 1 done: every upstream part scored (``work/perplexity/scores/``), each snapshot's cut-off
    table resolved, and one unit per part to bucket it; ``report`` makes the metadata from the pass and
    the parts' stats."""

    scorer: PerplexityScorer
    cutoffs_mode: str
    tables: dict[str, CutoffTable]
    histograms: list[str]
    units: list[Unit]

    @classmethod
    def plan(cls, models: Path, score_dir: Path, upstream: Sequence[Path], scorer: PerplexityScorer, log: Any,
             summary: ExecutionSummary | None = None, *, cutoffs: str = "auto",
             percentiles: tuple[float, ...] = recipe.PERPLEXITY_PERCENTILES,
             keep_buckets: tuple[str, ...] = recipe.PERPLEXITY_KEEP_BUCKETS, no_model: str = "keep",
             min_docs_for_percentiles: int = recipe.PERPLEXITY_MIN_DOCS_FOR_PERCENTILES,
             sample_docs: int = recipe.PERPLEXITY_SAMPLE_DOCS, snapshot: str = "") -> "PerplexityStage":
        """Score the parts not scored yet (one ``executor_from_env().map`` task each), then per snapshot
        (``snapshot``: one table of that name for every part) pool a ``ScoreSample`` and resolve the
        cut-offs under ``models/perplexity_cutoffs/``; the keyword arguments are ``PerplexityConfig``'s fields."""
        if no_model not in ("keep", "drop"):
            raise ValueError(f"no_model must be 'keep' or 'drop', not {no_model!r}")
        code = code_fingerprint(sys.modules[__name__], part_runners)
        scores = {path: score_dir / path.name for path in upstream}
        jobs = [(path, scores[path], fingerprint(upstream_fingerprint(path), scorer.version, code)) for path in upstream]
        stale = [job for job in jobs if not part_is_current(job[1], job[2])]
        list(executor_from_env().map(partial(_score_part, scorer), stale, log, f"{STAGE}: score {len(stale)} part(s)", summary))
        for old in set(score_dir.glob("*.parquet")) - set(scores.values()) if score_dir.exists() else ():
            old.unlink()
        table_settings = dict(cutoffs=cutoffs, percentiles=list(percentiles), min_docs=min_docs_for_percentiles,
                              sample_docs=sample_docs)
        # the cut-offs of each snapshot from its own documents only: a new snapshot leaves the others' tables
        per_snapshot = {snapshot: list(upstream)} if snapshot else snapshots.by_snapshot(upstream)
        stage = cls(scorer, cutoffs, {}, [], [])
        units = {}
        for name, members in per_snapshot.items():
            sample = ScoreSample(sample_docs)
            for path in members:
                sample.add(read_scores(scores[path]))
            chosen = choose_cutoffs(sample, scorer, cutoffs, percentiles, min_docs_for_percentiles,
                                    recipe.CCNET_PERPLEXITY_CUTOFFS, recipe.PERPLEXITY_WIKI_REFERENCE_PERCENTILES)
            table = stage.tables[name] = CutoffTable.resolve(models / "perplexity_cutoffs", name, scorer.version,
                                                             table_settings, chosen)
            stage.histograms.append(f"**{name}**\n\n" + plots.histograms_markdown(
                {lang: sample.values(lang) for lang in sample.languages}, table.pairs, "perplexity", log_x=True))
            settings = dict(cutoffs=table.pairs, keep=sorted(keep_buckets), no_model=no_model, model=scorer.version,
                            snapshot=name)
            for path in members:
                units[path] = Unit(path.name.removesuffix(".parquet"), fingerprint(upstream_fingerprint(path), settings, code),
                                   partial(_bucket_part, path=path, scores=scores[path], cutoffs=table.pairs,
                                           keep_buckets=list(keep_buckets), drop_without_model=no_model == "drop",
                                           snapshot=name))
        stage.units = [units[p] for p in upstream]
        return stage

    def report(self, stats: PartStats) -> dict[str, Any]:
        """The stage's metadata: the model, each snapshot's cut-offs (where from, the table, reused or not),
        the documents per snapshot, language and bucket (from the parts' counters) and the pass-1 histograms."""
        buckets = {name: {lang: dict.fromkeys(BUCKETS, 0) for lang in t.languages} for name, t in self.tables.items()}
        for counter, n in stats.counters.items():
            if counter.startswith(BUCKET_COUNTER):
                name, lang, bucket = counter.removeprefix(BUCKET_COUNTER).rsplit("/", 2)
                buckets.setdefault(name, {}).setdefault(lang, dict.fromkeys(BUCKETS, 0))[bucket] += n
        rows = "\n".join(f"| {name} | {lang} | {c.origin} | {c.docs} | {c.lo:.1f} | {c.hi:.1f} | "
                         f"{buckets[name][lang]['head']} | {buckets[name][lang]['middle']} | {buckets[name][lang]['tail']} |"
                         for name, table in self.tables.items() for lang, c in table.languages.items())
        return dict(
            model_version=self.scorer.version,
            model_kind=self.scorer.kind,
            cutoffs_mode=self.cutoffs_mode,
            snapshots=list(self.tables),
            cutoff_tables={name: str(t.path) for name, t in self.tables.items()},
            cutoffs_reused={name: t.reused for name, t in self.tables.items()},
            cutoff_origin={name: {lang: {"origin": c.origin, "docs": c.docs, "cutoffs": [c.lo, c.hi]}
                                  for lang, c in t.languages.items()} for name, t in self.tables.items()},
            no_lm_for_lang=stats.counters.get(NO_MODEL, 0),
            buckets=plots.Markdown("| snapshot | lang | cut-offs from | from docs | head/middle | middle/tail | head | middle | tail |\n"
                                   "|---|---|---|---|---|---|---|---|---|\n" + rows),
            bucket_counts=buckets,
            perplexity_histogram=plots.Markdown("\n\n".join(self.histograms)),
        )
