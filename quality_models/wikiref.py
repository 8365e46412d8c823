"""LLaMA-1's Wikipedia-reference classifier, trained by the project with fastText, as RedPajama v1 built it.

Positives are real pages that Wikipedia cites (RedPajama v1: ``data_prep/cc/classifier``): a hash-priority
sample of the ``cited_urls`` of the Wikipedia documents (bounded: ``max_cited_urls``) is looked up in Common
Crawl's URL index, each hit's WARC record fetched by byte range (``corpus.cc_index``, capped at
``max_cited_pages``) and read by the project's Common Crawl reader, then language-identified like every
crawled page (``lid``: the same fastText LID filter, keeping the CCNet languages); cited pages already in
the inputs (after LID) count too. Pages under ``min_positive_chars`` (1,000, RedPajama) are not used.
Negatives are random Common Crawl pages that went through the same CCNet steps (the ``langid`` stage's
documents: line dedup + LID, kept language only), never pre-LID pages of every language.

With fewer than ``min_positives`` cited pages (the small samples), the positives fall back to Wikipedia
and Books paragraphs and the manifest says so (``positives_source: fallback_curated``). Such a model
scores "curated prose vs web", so RedPajama's absolute P >= 0.25 means nothing for it: its keep rule is
calibrated instead, the threshold that keeps ``fallback_keep_fraction`` of held-out web documents. A
model trained on real cited pages keeps RedPajama's P >= 0.25. The rule is in the manifest
(``keep_rule``) and the filter applies it.

Every document is cut into paragraph chunks of >= ``min_example_chars`` for both classes alike, so length
is not what the classifier learns. A share of *documents* (by hash of the id) is held out: none of their
chunks is trained on. Memory is bounded: documents are streamed and each (class, split) keeps a
hash-priority sample of at most ``max_examples_per_class`` chunks (the lowest xxh3 priorities, a uniform
seeded sample whatever the input size). Training and held-out sets are balanced between the classes; the
held-out balanced accuracy and AUC are in the manifest with the class counts, overall and per pair of
sources. Training is ``fasttext.train_supervised`` with one thread and a fixed seed.

A model is versioned by a hash of its examples and parameters and written atomically to
``models/wikiref/<version>/`` (see ``quality_models.store``).
"""
from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import urlsplit

import numpy as np
import xxhash

from corpus import cc_index, recipe, snapshots
from corpus.filters import langid as langid_filter
from corpus.filters.wikiref import NEGATIVE, POSITIVE, WikirefScorer, fasttext_text
from corpus.sampling import PrioritySample
from corpus.schema import Drop, batches
from corpus.part_runners import BatchFilter
from corpus.storage import Layout, iter_batches
from corpus.fingerprints import fingerprint
from quality_models.fasttext_training import train_supervised
from quality_models import language_identifier
from quality_models.kenlm_model import is_heldout
from quality_models.store import publish

NAME = "wikiref"
MODEL_FORMAT = 2
DEFAULT_PORTS = {"http": "80", "https": "443"}
CITED_IN_INPUTS = "commoncrawl_cited"
CITED_FROM_INDEX = "cc_index_cited"
WEB = "commoncrawl"
WEB_STAGE = langid_filter.STAGE  # negatives: Common Crawl pages after line dedup + LID
# fetched cited pages -> (documents or Drops); given {normalised cited URL: priority}
CitedPageSource = Callable[[Mapping[str, int]], Iterable["dict[str, Any] | Drop"]]


def normalize_url(url: str | None) -> str | None:
    """host (lowercase, no ``www.``, no default port) + path (no trailing ``/``) + query; no scheme,
    no fragment: http/https and ``www.`` variants of one page match. None for non-web URLs."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".").removeprefix("www.")
    if port is not None and str(port) != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    return f"{host}{path}" + (f"?{parts.query}" if parts.query else "")


def chunks(text: str, min_chars: int) -> list[str]:
    """Consecutive non-empty lines merged until each chunk has >= ``min_chars``; a short tail is
    joined to the previous chunk (a document shorter than ``min_chars`` gives one chunk)."""
    out, pending, size = [], [], 0
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        pending.append(line)
        size += len(line) + 1
        if size >= min_chars:
            out.append(" ".join(pending))
            pending, size = [], 0
    if pending:
        if out:
            out[-1] += " " + " ".join(pending)
        else:
            out.append(" ".join(pending))
    return out


@dataclass(frozen=True)
class WikirefParams:
    """The training settings (defaults: corpus/recipe.py)."""

    min_positives: int = recipe.WIKIREF_MIN_POSITIVES
    min_positive_chars: int = recipe.WIKIREF_MIN_POSITIVE_CHARS
    min_example_chars: int = recipe.WIKIREF_MIN_EXAMPLE_CHARS
    holdout_fraction: float = recipe.WIKIREF_HOLDOUT_FRACTION
    lr: float = recipe.WIKIREF_FASTTEXT_LR
    dim: int = recipe.WIKIREF_FASTTEXT_DIM
    epoch: int = recipe.WIKIREF_FASTTEXT_EPOCH
    word_ngrams: int = recipe.WIKIREF_FASTTEXT_WORD_NGRAMS
    # the keep rule of a model trained on real cited pages (RedPajama v1: 0.25)
    min_score: float = recipe.WIKIREF_MIN_SCORE
    # the keep rule of a fallback model: this share of held-out web documents
    fallback_keep_fraction: float = recipe.WIKIREF_FALLBACK_KEEP_FRACTION
    # training chunks per class; held-out: this times holdout_fraction
    max_examples_per_class: int = recipe.WIKIREF_MAX_EXAMPLES_PER_CLASS
    # so that one long page (or book) does not stand for its whole class
    max_chunks_per_document: int = recipe.WIKIREF_MAX_CHUNKS_PER_DOCUMENT
    # held-out documents kept per class (keep rule, document-level AUC)
    max_calibration_documents: int = recipe.WIKIREF_MAX_CALIBRATION_DOCUMENTS
    max_cited_urls: int = recipe.WIKIREF_MAX_CITED_URLS
    seed: int = 0


@dataclass(frozen=True)
class WikirefInputs:
    """``web``: Common Crawl documents after the CCNet steps up to LID (negatives, and cited pages already in
    the inputs); ``cited_pages``/``lid``: the index lookup + range fetch and the LID filter for what it fetches."""
    wikipedia: list[Path]
    books: list[Path]
    web: list[Path]
    cited_pages: CitedPageSource | None = None
    lid: BatchFilter | None = None


@dataclass(frozen=True)
class Example:
    doc_id: str
    source: str
    label: str
    text: str  # already ``fasttext_text``
    heldout: bool


def priority(seed: int, key: str) -> int:
    return xxhash.xxh3_64_intdigest(f"{seed}:{key}".encode())


def _docs(parts: Iterable[Path], columns=("id", "text")) -> Iterator[dict[str, Any]]:
    for batch in iter_batches(sorted(parts), columns=list(columns)):
        yield from batch.to_pylist()


def cited_urls(wikipedia_parts: Iterable[Path], max_urls: int, seed: int = 0) -> tuple[dict[str, int], int]:
    """({normalised cited URL: priority} for a hash-priority sample of at most ``max_urls`` distinct URLs,
    lowest priority first; the number of cited URL mentions read)."""
    sample = PrioritySample(max_urls)
    for doc in _docs(wikipedia_parts, ("id", "meta")):
        meta = json.loads(doc["meta"]) if doc["meta"] else {}
        for key in filter(None, map(normalize_url, meta.get("cited_urls") or [])):
            sample.add(priority(seed, key), key, None)
    return {key: p for p, key, _ in sample.items()}, sample.seen


def page_identities(doc: Mapping[str, Any]) -> list[str]:
    """What makes two documents one page: the id, the normalised URL, the WARC record id (a cited page fetched
    through the index is the same record as the crawled copy in the inputs, under another document id)."""
    meta = json.loads(doc["meta"]) if doc.get("meta") else {}
    url = normalize_url(doc.get("url"))
    return [doc["id"], *([f"url:{url}"] if url else []),
            *([f"record:{meta['warc_record_id']}"] if meta.get("warc_record_id") else [])]


PAGE_COLUMNS = ("id", "url", "meta", "text")


def positive_pages(inputs: WikirefInputs, cited: Mapping[str, int],
                   params: WikirefParams) -> tuple[Iterator[tuple[dict[str, Any], str]], Counter]:
    """(positive documents with their source, counts filled in as they stream): cited pages already in the
    inputs, then the ones the index lookup fetches, after LID; each page once, >= ``min_positive_chars``."""
    counts: Counter = Counter()

    def generate() -> Iterator[tuple[dict[str, Any], str]]:
        seen: set[str] = set()
        for d in _docs(inputs.web, PAGE_COLUMNS):
            if normalize_url(d["url"]) in cited:
                counts["cited_pages_in_inputs"] += 1
                if len(d["text"]) >= params.min_positive_chars:
                    seen.update(page_identities(d))
                    yield d, CITED_IN_INPUTS
        if inputs.cited_pages is None:
            return
        fetched = inputs.cited_pages(cited)
        for batch in batches(_counted_documents(fetched, counts)):
            kept, drops = inputs.lid(batch) if inputs.lid is not None else (batch, None)
            if drops is not None:
                counts.update(f"cited_pages_dropped_{r}" for r in drops.column("reason").to_pylist())
            for d in kept.select(list(PAGE_COLUMNS)).to_pylist():
                if seen.intersection(page_identities(d)):
                    continue
                if len(d["text"]) < params.min_positive_chars:
                    counts["cited_pages_dropped_short"] += 1
                    continue
                seen.update(page_identities(d))
                counts["cited_pages_fetched_kept"] += 1
                yield d, CITED_FROM_INDEX

    return generate(), counts


def _counted_documents(records: Iterable[dict[str, Any] | Drop], counts: Counter) -> Iterator[dict[str, Any]]:
    for r in records:
        if isinstance(r, Drop):
            counts[f"cited_pages_dropped_{r.reason}"] += 1
        else:
            counts["cited_pages_fetched"] += 1
            yield r


def index_cited_pages(index: list[str], warc_base: str, cache: Path, max_pages: int) -> CitedPageSource:
    """The production ``cited_pages``: Common Crawl's columnar index + range fetch (``corpus.cc_index``)."""

    def fetch(cited: Mapping[str, int]) -> Iterator[dict[str, Any] | Drop]:
        hits = cc_index.lookup(cited, index, cache, max_pages)
        return cc_index.cited_pages(hits, warc_base, cache)

    return fetch


def negative_parts(web_parts: list) -> list:
    """The negatives' parts: the first snapshot's (``corpus.snapshots.snapshot_order``), not every snapshot's,
    so adding a newer snapshot keeps the classifier, and so every earlier part it filtered, as it was."""
    return next(iter(snapshots.by_snapshot(web_parts).values()), [])


def data_root_inputs(layout: Layout, cc_index_paths: list[str], warc_base: str, max_cited_pages: int) -> WikirefInputs:
    """The inputs from the data root: ingested Wikipedia and Books, the first snapshot's Common Crawl pages
    after LID (``WEB_STAGE``); with an index (``cc_index_paths`` non-empty), the cited pages it finds (at most
    ``max_cited_pages``), language-identified as the web pages were (lid.176 + the current refiners)."""
    cited_pages, lid = None, None
    if cc_index_paths:
        cited_pages = index_cited_pages(cc_index_paths, warc_base, layout.work / "wikiref" / "cc_index", max_cited_pages)
        identifier = language_identifier.LanguageIdentifier(language_identifier.default_model_path(),
                                                            language_identifier.current_refiners(layout.models))
        lid = langid_filter.LangIdFilter(identifier, WEB, recipe.CC_KEEP_LANGUAGES, recipe.LANGID_MIN_SCORE)
    return WikirefInputs(layout.docs_parts("ingest", "wikipedia"), layout.docs_parts("ingest", "books"),
                         negative_parts(layout.docs_parts(WEB_STAGE, WEB)), cited_pages, lid)


class ExamplePools:
    """A hash-priority sample of chunk examples per (label, held out), at most ``max_chunks_per_document`` per
    document, and of whole held-out documents per label (the calibration set of a fallback model's keep rule,
    and the document-level evaluation): memory bounded whatever the input size."""

    def __init__(self, params: WikirefParams, labels: tuple[str, str] = (POSITIVE, NEGATIVE)):
        self.params = params
        self.positive, self.negative = labels
        heldout_capacity = max(1, int(params.max_examples_per_class * params.holdout_fraction))
        self.pools = {(label, held): PrioritySample(heldout_capacity if held else params.max_examples_per_class)
                      for label in labels for held in (False, True)}
        self.heldout_documents = {label: PrioritySample(params.max_calibration_documents) for label in labels}
        self.documents: Counter = Counter()

    def add(self, label: str, doc_id: str, source: str, text: str) -> None:
        p = self.params
        held = is_heldout(f"{p.seed}:{doc_id}", p.holdout_fraction)
        self.documents[f"{'heldout' if held else 'train'}_{label.removeprefix('__label__')}_{source}"] += 1
        if held:
            self.heldout_documents[label].add(priority(p.seed, doc_id), doc_id, (source, text))
        keyed = sorted((priority(p.seed, f"{doc_id}:{i}"), f"{doc_id}:{i}", chunk)
                       for i, chunk in enumerate(chunks(text, p.min_example_chars)))
        for key_priority, key, chunk in keyed[:p.max_chunks_per_document]:
            if ft := fasttext_text(chunk):
                self.pools[(label, held)].add(key_priority, key, Example(doc_id, source, label, ft, held))

    def balanced(self) -> list[Example]:
        """Per split, as many examples of each class as the smaller has (the lowest priorities)."""
        out: list[Example] = []
        for held in (False, True):
            pos, neg = self.pools[(self.positive, held)].items(), self.pools[(self.negative, held)].items()
            n = min(len(pos), len(neg))
            out += [e for _, _, e in pos[:n]] + [e for _, _, e in neg[:n]]
        return out

    def heldout_document_examples(self) -> list[Example]:
        """Whole held-out documents, as many of each class as the smaller has (``fasttext_text`` form)."""
        pos, neg = self.heldout_documents[self.positive].items(), self.heldout_documents[self.negative].items()
        n = min(len(pos), len(neg))
        return [Example(doc_id, source, label, fasttext_text(text), True)
                for label, docs in ((self.positive, pos), (self.negative, neg)) for _, doc_id, (source, text) in docs[:n]]


def counts_of(examples: Iterable[Example]) -> dict[str, int]:
    counts = Counter(f"{'heldout' if e.heldout else 'train'}_{e.label.removeprefix('__label__')}_{e.source}"
                     for e in examples)
    return dict(sorted(counts.items()))


def collect_examples(inputs: WikirefInputs, params: WikirefParams) -> tuple[ExamplePools, dict[str, Any]]:
    """Positives (cited pages, else the curated fallback) and negatives (web pages after LID), streamed."""
    cited, mentions = cited_urls(inputs.wikipedia, params.max_cited_urls, params.seed)
    pools = ExamplePools(params)
    pages, counts = positive_pages(inputs, cited, params)
    taken: set[str] = set()  # identities of the positive pages: none of them is also a negative
    used = 0
    for doc, source in pages:
        taken.update(page_identities(doc))
        used += 1
        pools.add(POSITIVE, doc["id"], source, doc["text"])
    info: dict[str, Any] = {"cited_url_mentions": mentions, "cited_urls_sampled": len(cited), **dict(sorted(counts.items())),
                            "cited_pages_used": used}
    if used >= params.min_positives:
        info["positives_source"] = "wikipedia_references"
    else:
        info["positives_source"] = "fallback_curated"
        pools = ExamplePools(params)
        for source, parts in (("wikipedia", inputs.wikipedia), ("books", inputs.books)):
            for d in _docs(parts):
                pools.add(POSITIVE, d["id"], source, d["text"])
    excluded = 0
    for d in _docs(inputs.web, PAGE_COLUMNS):
        if taken.intersection(page_identities(d)):
            excluded += 1
        else:
            pools.add(NEGATIVE, d["id"], WEB, d["text"])
    info["web_pages_excluded_as_cited"] = excluded
    info["documents"] = dict(sorted(pools.documents.items()))
    return pools, info


def auc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """Area under the ROC curve: Mann-Whitney U over average ranks (ties count half)."""
    if len(pos) == 0 or len(neg) == 0:
        return None
    _, inverse, counts = np.unique(np.concatenate([pos, neg]), return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def evaluate(scorer_scores: np.ndarray, examples: list[Example], min_score: float,
             prefix: str = "heldout", positive: str = POSITIVE) -> dict[str, Any]:
    """Balanced accuracy at the keep rule's threshold and AUC on held-out examples (balanced between the
    classes), with the class counts, overall and per (positive, negative) source."""
    labels = np.asarray([e.label == positive for e in examples], bool)
    sources = np.asarray([e.source for e in examples], dtype=object)
    out: dict[str, Any] = {f"{prefix}_examples": int(len(examples)), f"{prefix}_positives": int(labels.sum()),
                           f"{prefix}_negatives": int((~labels).sum())}
    if not labels.any() or labels.all():
        return out
    kept = scorer_scores >= min_score
    out[f"{prefix}_accuracy"] = round(float((kept[labels].mean() + (~kept[~labels]).mean()) / 2), 4)
    out[f"{prefix}_auc"] = _round(auc(scorer_scores[labels], scorer_scores[~labels]))
    for ps in sorted(set(sources[labels])):
        for ns in sorted(set(sources[~labels])):
            out[f"{prefix}_auc_{ps}_vs_{ns}"] = _round(auc(scorer_scores[labels & (sources == ps)],
                                                          scorer_scores[~labels & (sources == ns)]))
    return out


def keep_rule(positives_source: str, web_scores: np.ndarray, params: WikirefParams) -> dict[str, Any]:
    """RedPajama's P >= ``min_score`` for a model of real cited pages; for the fallback, the threshold that keeps
    ``fallback_keep_fraction`` of the held-out web documents (whole documents, scored as the filter scores them)."""
    if positives_source == "wikipedia_references":
        return {"rule": f"P(wiki-ref) >= {params.min_score:g} (RedPajama v1)", "min_score": params.min_score}
    if not len(web_scores):
        raise ValueError("no held-out web documents to calibrate the fallback keep rule on")
    threshold = float(np.quantile(web_scores, 1.0 - params.fallback_keep_fraction, method="lower"))
    return {"rule": f"keep {params.fallback_keep_fraction:g} of held-out web documents: P(wiki-ref) >= {threshold:.6g}",
            "min_score": round(threshold, 6), "keep_fraction": params.fallback_keep_fraction,
            "calibration_documents": int(len(web_scores))}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def examples_digest(examples: Iterable[Example], calibration: Iterable[str], heldout_documents: Iterable[Example]) -> str:
    """A hash of everything a classifier is trained, calibrated and evaluated on (part of its version)."""
    digest = xxhash.xxh3_128()
    for e in examples:
        digest.update(f"{e.label}\t{int(e.heldout)}\t{e.text}\n".encode())
    for text in calibration:
        digest.update(f"calibration\t{text}\n".encode())
    for e in heldout_documents:
        digest.update(f"document\t{e.label}\t{e.text}\n".encode())
    return digest.hexdigest()


def fit(tmp: Path, train: Iterable[Example], params: Any, bucket: int = recipe.WIKIREF_FASTTEXT_BUCKET) -> float:
    """Train ``tmp/model.bin`` on ``train`` (fastText supervised, one thread, ``params``' seed); the seconds taken.
    ``params`` has ``lr``, ``dim``, ``epoch``, ``word_ngrams`` and ``seed``."""
    started = time.monotonic()
    train_file = tmp / "train.txt.tmp"
    with train_file.open("w", encoding="utf-8") as fh:  # line by line: never the whole file as one string
        fh.writelines(f"{e.label} {e.text}\n" for e in train)
    train_supervised(train_file, tmp / "model.bin", lr=params.lr, dim=params.dim, epoch=params.epoch,
                     wordNgrams=params.word_ngrams, bucket=bucket, seed=params.seed, thread=1, verbose=0)
    train_file.unlink()
    return round(time.monotonic() - started, 2)


def train_classifier(inputs: WikirefInputs, models_root: Path, params: WikirefParams) -> tuple[Path, dict[str, Any], bool]:
    """Train (or reuse) the classifier; returns (folder, manifest, reused)."""
    pools, info = collect_examples(inputs, params)
    examples = pools.balanced()
    counts = counts_of(examples)
    train = [e for e in examples if not e.heldout]
    heldout = [e for e in examples if e.heldout]
    if not train:
        raise ValueError(f"not enough training data for the wikiref classifier: {counts or 'no examples'}; "
                         f"documents {info['documents']}")
    calibration = [text for _, _, (_, text) in pools.heldout_documents[NEGATIVE].items()]
    heldout_documents = pools.heldout_document_examples()
    version = fingerprint(NAME, MODEL_FORMAT, asdict(params), examples_digest(examples, calibration, heldout_documents))

    def build(tmp: Path) -> None:
        seconds = fit(tmp, train, params)
        scorer = WikirefScorer(tmp / "model.bin")
        rule = keep_rule(info["positives_source"], scorer.score(calibration), params)
        manifest = {"name": NAME, "version": version, "format": MODEL_FORMAT, "params": asdict(params),
                    "model": "model.bin", **info, "keep_rule": rule, "examples": counts, "train_examples": len(train),
                    "train_seconds": seconds,
                    **evaluate(scorer.score_prepared([e.text for e in heldout]), heldout, rule["min_score"]),
                    **evaluate(scorer.score_prepared([e.text for e in heldout_documents]), heldout_documents,
                               rule["min_score"], prefix="heldout_document")}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))

    folder, reused = publish(models_root, NAME, version, build)
    return folder, json.loads((folder / "manifest.json").read_text()), reused
