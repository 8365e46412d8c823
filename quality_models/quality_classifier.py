"""LLaMA-3's model-based quality classifier, trained by the project with fastText as DCLM trained its own.

Positives are documents of high-quality sources (configurable; by default Wikipedia, Books, StackExchange and
arXiv, from their ingest parts: the curated stage comes after this filter in the graph). A StackExchange
document is cut to its question and its top answer (the first: answers are sorted by score), as DCLM took
ELI5's question + top answer. Negatives are random web pages of the pool (``recipe.QUALITY_CLASSIFIER_NEGATIVE_STAGE``:
Common Crawl after CCNet's line dedup + LID), as DCLM's are, not the few pages the filters before the
classifier leave (``negative_stage``). Both are cut into paragraph chunks and sampled exactly
like the wikiref classifier's (``quality_models.wikiref.ExamplePools``: hash-priority samples per class and
split, documents held out by hash, classes balanced), so the two models differ in their data only.

The model carries no absolute threshold: the filter keeps the top ``keep_fraction`` of the snapshot
(``corpus.filters.quality_classifier``). The manifest holds the held-out AUC (chunks and whole documents)
and the balanced accuracy at P = 0.5, overall and per pair of sources, and the histogram of the held-out
documents' scores per class (``SCORE_BINS``), to see that the scores separate. Versioned by a hash of its examples
and parameters, written to ``models/quality_classifier/<version>/`` (``quality_models.store``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from corpus import presets, recipe
from corpus.filters.quality_classifier import NEGATIVE, POSITIVE, STAGE
from corpus.filters.wikiref import WikirefScorer
from corpus.fingerprints import fingerprint
from corpus.storage import Layout
from quality_models.store import publish
from quality_models.wikiref import Example, ExamplePools, _docs, counts_of, evaluate, examples_digest, fit

NAME = "quality_classifier"
MODEL_FORMAT = 2  # 2: the held-out documents' score histogram in the manifest
# the balanced accuracy in the manifest is taken at this P(high quality); the filter's cut-off is a rank
REPORT_THRESHOLD = 0.5
SCORE_BINS = 20  # of [0, 1], for the held-out documents' score histogram
ANSWER_MARK = "\nA: "


def question_and_top_answer(text: str) -> str:
    """``Q: ...`` and its first ``A: ...`` (the reader sorts answers by score, highest first)."""
    return ANSWER_MARK.join(text.split(ANSWER_MARK, 2)[:2])


POSITIVE_TEXT = {"stackexchange": question_and_top_answer}


@dataclass(frozen=True)
class QualityParams:
    """The training settings (the wikiref model's, but DCLM's bigram features); the run config mirrors them."""
    min_example_chars: int = recipe.WIKIREF_MIN_EXAMPLE_CHARS
    holdout_fraction: float = recipe.WIKIREF_HOLDOUT_FRACTION
    lr: float = recipe.WIKIREF_FASTTEXT_LR
    dim: int = recipe.WIKIREF_FASTTEXT_DIM
    epoch: int = recipe.WIKIREF_FASTTEXT_EPOCH
    word_ngrams: int = recipe.QUALITY_CLASSIFIER_FASTTEXT_WORD_NGRAMS
    max_examples_per_class: int = recipe.WIKIREF_MAX_EXAMPLES_PER_CLASS
    max_chunks_per_document: int = recipe.WIKIREF_MAX_CHUNKS_PER_DOCUMENT
    max_calibration_documents: int = recipe.WIKIREF_MAX_CALIBRATION_DOCUMENTS  # held-out documents per class
    seed: int = 0


@dataclass(frozen=True)
class QualityInputs:
    """{source: its parts} of the positives, and of the negatives (web sources, at ``negative_stages[source]``)."""
    positives: Mapping[str, Sequence[Path]]
    negatives: Mapping[str, Sequence[Path]]
    negative_stages: Mapping[str, str] = field(default_factory=dict)


def negative_stage(preset: presets.Preset, source: str, stage: str = recipe.QUALITY_CLASSIFIER_NEGATIVE_STAGE) -> str:
    """The stage whose pages are ``source``'s negatives: ``stage`` when the source runs it, else the last stage it
    runs before it (funnel order: C4 has no CCNet stages); never the quality filter's own stage or a later one."""
    order = presets.ALL_STAGES
    if stage not in order or order.index(stage) >= order.index(STAGE):
        raise ValueError(f"negative_stage {stage!r}: give a stage before {STAGE}: "
                         f"{', '.join(order[:order.index(STAGE)])}")
    return [s for s in preset.stages(source) if order.index(s) <= order.index(stage)][-1]


def model_inputs(layout: Layout, preset: presets.Preset, positive_sources: Sequence[str],
                 stage: str = recipe.QUALITY_CLASSIFIER_NEGATIVE_STAGE) -> QualityInputs:
    """The positives' ingest parts (the curated stage comes after this filter in the graph) and, for every web
    source the quality filter runs on, its parts at its ``negative_stage``."""
    unknown = sorted(set(positive_sources) - set(recipe.SOURCES))
    if unknown or not positive_sources:
        raise ValueError(f"positive_sources {list(positive_sources)}: give one or more of {', '.join(recipe.SOURCES)}")
    stages = {s: negative_stage(preset, s, stage) for s in preset.sources(STAGE)}
    return QualityInputs({s: layout.docs_parts(presets.INGEST, s) for s in positive_sources},
                         {s: layout.docs_parts(st, s) for s, st in stages.items()}, stages)


def collect_examples(inputs: QualityInputs, params: QualityParams) -> ExamplePools:
    pools = ExamplePools(params, (POSITIVE, NEGATIVE))
    for source in sorted(inputs.positives):
        prepare = POSITIVE_TEXT.get(source, str)
        for d in _docs(inputs.positives[source]):
            pools.add(POSITIVE, d["id"], source, prepare(d["text"]))
    for source in sorted(inputs.negatives):
        for d in _docs(inputs.negatives[source]):
            pools.add(NEGATIVE, d["id"], source, d["text"])
    return pools


def train_classifier(inputs: QualityInputs, models_root: Path, params: QualityParams) -> tuple[Path, dict[str, Any], bool]:
    """Train (or reuse) the classifier; returns (folder, manifest, reused)."""
    pools = collect_examples(inputs, params)
    examples = pools.balanced()
    counts = counts_of(examples)
    documents = dict(sorted(pools.documents.items()))
    train = [e for e in examples if not e.heldout]
    heldout = [e for e in examples if e.heldout]
    if not train:
        raise ValueError(f"not enough training data for the quality classifier: {counts or 'no examples'}; "
                         f"documents {documents} (positives from {sorted(inputs.positives)}, negatives from "
                         f"{ {s: len(p) for s, p in inputs.negatives.items()} } web parts)")
    heldout_documents = pools.heldout_document_examples()
    version = fingerprint(NAME, MODEL_FORMAT, asdict(params), sorted(inputs.positives), sorted(inputs.negatives),
                          examples_digest(examples, (), heldout_documents))

    def build(tmp: Path) -> None:
        seconds = fit(tmp, train, params)
        scorer = WikirefScorer(tmp / "model.bin", POSITIVE)
        document_scores = scorer.score_prepared([e.text for e in heldout_documents])
        manifest = {"name": NAME, "version": version, "format": MODEL_FORMAT, "params": asdict(params),
                    "model": "model.bin", "labels": [POSITIVE, NEGATIVE], "positive_sources": sorted(inputs.positives),
                    "negative_sources": sorted(inputs.negatives), "negative_stages": dict(sorted(inputs.negative_stages.items())),
                    "documents": documents, "examples": counts, "train_examples": len(train), "train_seconds": seconds,
                    **evaluate(scorer.score_prepared([e.text for e in heldout]), heldout, REPORT_THRESHOLD,
                               positive=POSITIVE),
                    **evaluate(document_scores, heldout_documents, REPORT_THRESHOLD, prefix="heldout_document",
                               positive=POSITIVE),
                    "heldout_document_score_histogram": score_histogram(document_scores, heldout_documents)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))

    folder, reused = publish(models_root, NAME, version, build)
    return folder, json.loads((folder / "manifest.json").read_text()), reused


def score_histogram(scores: np.ndarray, examples: Sequence[Example]) -> dict[str, list[int]]:
    """{label without ``__label__``: documents per bin of [0, 1] (``SCORE_BINS`` bins)}."""
    labels = np.asarray([e.label for e in examples], dtype=object)
    edges = np.linspace(0.0, 1.0, SCORE_BINS + 1)
    return {label.removeprefix("__label__"): np.histogram(np.asarray(scores)[labels == label], edges)[0].tolist()
            for label in (POSITIVE, NEGATIVE)}


def scorer_of(folder: Path) -> WikirefScorer:
    """The filter's scorer of a published model folder."""
    return WikirefScorer(Path(folder) / "model.bin", POSITIVE)
