"""LLaMA-1's Wikipedia-reference classifier, trained by the project with fastText.

Positives are the pages Wikipedia cites: the ``cited_urls`` of the Wikipedia documents, matched by
normalised URL (``normalize_url``) to CommonCrawl ingest documents of >= 1,000 characters
(RedPajama v1). When fewer than ``min_positives`` are matched (always the case with the small
samples) the positives fall back to curated text, Wikipedia and Books paragraphs, and the manifest
says so (``positives_source: fallback_curated``). Negatives are random web pages (seeded):
CommonCrawl, plus C4 by default (C4 is CommonCrawl pages after C4's rules; see ``recipe``).

Every document is cut into paragraph chunks of >= ``min_example_chars`` for both classes alike, so
length is not what the classifier learns. A share of *documents* (by hash of the id) is held out:
none of their chunks is trained on, and the held-out accuracy and AUC are in the manifest, overall
and per pair of sources. Training is ``fasttext.train_supervised`` with one thread and a fixed seed.

A model is versioned by a hash of its examples and parameters and written atomically to
``models/wikiref/<version>/`` (see ``quality_models.kenlm_model.publish``).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit

import numpy as np
import xxhash

from corpus.filters.wikiref import NEGATIVE, POSITIVE, WikirefScorer, fasttext_text
from corpus.recipe import WIKIREF_FASTTEXT_BUCKET
from corpus.storage import fingerprint, iter_batches
from quality_models.fasttext_training import train_supervised
from quality_models.kenlm_model import is_heldout, publish

NAME = "wikiref"
MODEL_FORMAT = 1
DEFAULT_PORTS = {"http": "80", "https": "443"}


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
    min_positives: int
    min_positive_chars: int
    min_example_chars: int
    holdout_fraction: float
    negative_sources: tuple[str, ...]
    lr: float
    dim: int
    epoch: int
    word_ngrams: int
    seed: int = 0
    max_examples_per_class: int = 300_000


@dataclass(frozen=True)
class Example:
    doc_id: str
    source: str
    label: str
    text: str  # already ``fasttext_text``
    heldout: bool


def _docs(parts: Iterable[Path], columns=("id", "text")) -> Iterator[dict[str, Any]]:
    for batch in iter_batches(sorted(parts), columns=list(columns)):
        yield from batch.to_pylist()


def cited_urls(wikipedia_parts: Iterable[Path]) -> set[str]:
    urls: set[str] = set()
    for doc in _docs(wikipedia_parts, ("id", "meta")):
        meta = json.loads(doc["meta"]) if doc["meta"] else {}
        urls.update(u for u in map(normalize_url, meta.get("cited_urls") or []) if u)
    return urls


def find_positives(wikipedia_parts, books_parts, commoncrawl_parts, params: WikirefParams):
    """(positive documents as (id, source, text), info); the fallback when too few pages match."""
    cited = cited_urls(wikipedia_parts)
    matched = [(d["id"], "commoncrawl_cited", d["text"]) for d in _docs(commoncrawl_parts, ("id", "url", "text"))
               if len(d["text"]) >= params.min_positive_chars and normalize_url(d["url"]) in cited]
    info = {"cited_urls": len(cited), "cited_pages_matched": len(matched)}
    if len(matched) >= params.min_positives:
        return matched, {**info, "positives_source": "wikipedia_references"}
    curated = [(d["id"], src, d["text"]) for src, parts in (("wikipedia", wikipedia_parts), ("books", books_parts))
               for d in _docs(parts)]
    return curated, {**info, "positives_source": "fallback_curated"}


def build_examples(positives, negatives, params: WikirefParams) -> tuple[list[Example], dict[str, Any]]:
    """Chunk, split by document, balance the training classes (seeded); the held-out set is kept whole."""
    pos_ids = {doc_id for doc_id, _, _ in positives}
    pools: dict[tuple[str, bool], list[Example]] = {}
    for label, docs in ((POSITIVE, positives), (NEGATIVE, [n for n in negatives if n[0] not in pos_ids])):
        for doc_id, source, text in docs:
            held = is_heldout(f"{params.seed}:{doc_id}", params.holdout_fraction)
            for chunk in chunks(text, params.min_example_chars):
                ft = fasttext_text(chunk)
                if ft:
                    pools.setdefault((label, held), []).append(Example(doc_id, source, label, ft, held))
    rng = np.random.default_rng(params.seed)
    examples: list[Example] = []
    for held in (False, True):
        pos, neg = pools.get((POSITIVE, held), []), pools.get((NEGATIVE, held), [])
        n = min(len(pos), len(neg), params.max_examples_per_class)
        for pool in (pos, neg):
            size = n if not held else min(len(pool), params.max_examples_per_class)  # held-out: all of it
            pick = np.sort(rng.choice(len(pool), size=size, replace=False)) if size else []
            examples.extend(pool[i] for i in pick)
    counts: dict[str, int] = {}
    for e in examples:
        key = f"{'heldout' if e.heldout else 'train'}_{e.label.removeprefix('__label__')}_{e.source}"
        counts[key] = counts.get(key, 0) + 1
    return examples, dict(sorted(counts.items()))


def auc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """Area under the ROC curve: Mann-Whitney U over average ranks (ties count half)."""
    if len(pos) == 0 or len(neg) == 0:
        return None
    _, inverse, counts = np.unique(np.concatenate([pos, neg]), return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def evaluate(scorer_scores: np.ndarray, examples: list[Example]) -> dict[str, Any]:
    """Balanced accuracy at P = 0.5 and AUC on held-out examples, overall and per (positive, negative) source."""
    labels = np.asarray([e.label == POSITIVE for e in examples])
    sources = np.asarray([e.source for e in examples], dtype=object)
    out: dict[str, Any] = {"heldout_examples": int(len(examples))}
    if not len(examples):
        return out
    predicted = scorer_scores >= 0.5
    recalls = [np.mean(predicted[labels]) if labels.any() else np.nan,
               np.mean(~predicted[~labels]) if (~labels).any() else np.nan]
    out["heldout_accuracy"] = round(float(np.nanmean(recalls)), 4)  # balanced: mean recall of the two classes
    out["heldout_auc"] = _round(auc(scorer_scores[labels], scorer_scores[~labels]))
    for ps in sorted(set(sources[labels])):
        for ns in sorted(set(sources[~labels])):
            out[f"heldout_auc_{ps}_vs_{ns}"] = _round(auc(scorer_scores[labels & (sources == ps)],
                                                          scorer_scores[~labels & (sources == ns)]))
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def train_classifier(wikipedia_parts: list[Path], books_parts: list[Path], commoncrawl_parts: list[Path],
                     negative_parts: dict[str, list[Path]], models_root: Path,
                     params: WikirefParams) -> tuple[Path, dict[str, Any], bool]:
    """Train (or reuse) the classifier; returns (folder, manifest, reused)."""
    positives, info = find_positives(wikipedia_parts, books_parts, commoncrawl_parts, params)
    negatives = [(d["id"], source, d["text"]) for source in params.negative_sources
                 for d in _docs(negative_parts.get(source, []))]
    examples, counts = build_examples(positives, negatives, params)
    train = [e for e in examples if not e.heldout]
    heldout = [e for e in examples if e.heldout]
    if not any(e.label == POSITIVE for e in train) or not any(e.label == NEGATIVE for e in train):
        raise ValueError(f"not enough training data for the wikiref classifier: {counts or 'no examples'}")
    digest = xxhash.xxh3_128()
    for e in examples:
        digest.update(f"{e.label}\t{int(e.heldout)}\t{e.text}\n".encode())
    version = fingerprint(NAME, MODEL_FORMAT, asdict(params), digest.hexdigest())

    def build(tmp: Path) -> None:
        started = time.monotonic()
        train_file = tmp / "train.txt.tmp"
        with train_file.open("w", encoding="utf-8") as fh:  # line by line: never the whole file as one string
            fh.writelines(f"{e.label} {e.text}\n" for e in train)
        train_supervised(train_file, tmp / "model.bin", lr=params.lr, dim=params.dim, epoch=params.epoch,
                         wordNgrams=params.word_ngrams, bucket=WIKIREF_FASTTEXT_BUCKET, seed=params.seed,
                         thread=1, verbose=0)
        train_file.unlink()
        seconds = round(time.monotonic() - started, 2)
        scores = WikirefScorer(tmp / "model.bin").score_prepared([e.text for e in heldout])
        manifest = {"name": NAME, "version": version, "format": MODEL_FORMAT, "params": asdict(params),
                    "model": "model.bin", **info, "examples": counts, "train_examples": len(train),
                    "train_seconds": seconds, **evaluate(scores, heldout)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))

    folder, reused = publish(models_root, NAME, version, build)
    return folder, json.loads((folder / "manifest.json").read_text()), reused
