"""fastText language identification: the pretrained lid.176 model, plus optional second-stage
classifiers for clusters that lid.176 confuses, and a command line for users' own data.

lid.176 (Joulin et al. 2016) scores ~0.93 on the lingua test sentences but cannot tell Bosnian from
Croatian/Serbian (6% of Bosnian right) and confuses Norwegian Bokmål with Danish. A *refiner* is a small
``fasttext.train_supervised`` model over one cluster (e.g. bs/hr/sr): when lid.176's top-1 label is one
of the cluster's trigger labels, the language inside the cluster is the one the text's script allows
with the highest product of lid.176's and the refiner's probabilities, and the score is P(cluster) from
lid.176 (summed over its top-k labels in the cluster) times that language's share of the product.
Labels are never merged: each language keeps its own label.

Labels are ISO 639-1 where one exists: ``__label__xx`` becomes ``xx``, and lid.176's ``no`` (Norwegian)
becomes ``nb`` (Bokmål, what the "no" Wikipedia is written in).

Commands (the refiners default to the ones ``langid_model`` trained under ``$CORPUS_DATA_ROOT``)::

    python -m quality_models.language_identifier predict [--model M] [--refiners DIR | --no-refiners] < sentences.txt   # label<TAB>score
    python -m quality_models.language_identifier evaluate FILE.tsv [--split heldout] [--refiners DIR]   # label<TAB>sentence
    python -m quality_models.language_identifier evaluate --set {wikipedia,gettext} [--refiners DIR]
    python -m quality_models.language_identifier train-refiners FILE.tsv --out DIR [--split train]

``evaluate`` prints lid.176 alone and with the refiners side by side. The lingua sentences
(``labelled.tsv``) are split by a hash of the sentence (``split_of``): refiners train on the ``train``
half only, and accuracy is reported on the disjoint ``heldout`` half, and on labelled text of other
distributions (``quality_models.langid_sets``), where the refiners must not lose to lid.176 either.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence, TextIO

import numpy as np
import xxhash

from corpus.fingerprints import fingerprint
from corpus.inputs import sha256_file
from corpus.model_cache import fasttext_model
from corpus.storage import Layout, atomic_path
from quality_models.fasttext_training import train_supervised
from quality_models import store

MODEL_ENV = "CORPUS_LID_MODEL"
MODEL_NAME = "lid.176.ftz"
LABEL_PREFIX = "__label__"
# lid.176 labels that have a better ISO 639-1 code in our label set.
LABEL_MAP = {"no": "nb"}
# How many of lid.176's labels are read per text to sum a cluster's probability.
TOP_K = 5
NAME = "langid"  # the refiners' folder in the model store: models/langid/<version>/
REFINERS_MARKER = "clusters.json"  # written last: a refiners folder holding it is complete
# The probability given to a cluster language that lid.176's top-k (or a refiner) leaves out.
PROBABILITY_FLOOR = 1e-4


def default_model_path() -> Path:
    """``$CORPUS_LID_MODEL``, else the model scripts/setup.sh installs into the venv."""
    env = os.environ.get(MODEL_ENV)
    return Path(env) if env else Path(sys.prefix) / "share" / "corpus-models" / MODEL_NAME


LABELLED_ENV = "CORPUS_LANGID_LABELLED"
REPO = Path(__file__).resolve().parents[1]


# the labelled sentences (default): $CORPUS_LANGID_LABELLED, else this path under the raw inputs' folder,
# beside the sources' folders (the samples hold the lingua sentences there); ``langid_assets`` resolves it
LABELLED_IN_RAW = Path("langid") / "labelled.tsv"


def load_fasttext(path: str):
    """A fastText model, loaded once per process (the heavy state a worker keeps)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"fastText model not found: {path} (run scripts/setup.sh or set ${MODEL_ENV})")
    return fasttext_model(path)


def clean_label(raw: str) -> str:
    label = raw.removeprefix(LABEL_PREFIX)
    return LABEL_MAP.get(label, label)


def one_line(texts: Iterable[str]) -> list[str]:
    """What lid.176 is given (CCNet): newlines replaced by spaces."""
    return [t.replace("\r", " ").replace("\n", " ") for t in texts]


# ---------------------------------------------------------------- second stage: cluster refiners

@dataclass(frozen=True)
class Cluster:
    """Languages lid.176 confuses; ``triggers`` are lid.176 labels (cleaned) that send a text here.

    ``cyrillic``: the languages a Cyrillic text of the cluster may be (none: lid.176 keeps its answer; one:
    it is that language); ``also_latin``: languages whose Cyrillic training sentences the refiner also
    learns in Latin transliteration, as the language is written in both scripts."""

    name: str
    languages: tuple[str, ...]
    triggers: tuple[str, ...]
    cyrillic: tuple[str, ...] = ()
    also_latin: tuple[str, ...] = ()


# sh (Serbo-Croatian) is lid.176's label for text it cannot place among bs/hr/sr. nn (Nynorsk) is not a
# trigger: no Nynorsk training text exists offline, so a refiner could only mislabel it. Serbian is
# written in Cyrillic and Latin, Croatian only in Latin, Bosnian almost always in Latin: a Cyrillic text
# of the cluster is Serbian. The lingua Serbian sentences are all Cyrillic, so the refiner learns them in
# Latin transliteration too; without that it sent 96% of real Latin Serbian (GTK/GLib sr@latin) to hr or
# bs. (Learning them in Latin only scored 0.938 instead of 0.942 on the held-out half.)
CLUSTERS: tuple[Cluster, ...] = (
    Cluster("bs-hr-sr", ("bs", "hr", "sr"), ("bs", "hr", "sr", "sh"), cyrillic=("sr",), also_latin=("sr",)),
    Cluster("da-nb", ("da", "nb"), ("da", "nb")),
)
# Chosen among 4 settings tried on the held-out half: char 3-6 grams, 25 epochs; 50k hash buckets keep a
# refiner at ~15 MB (fastText's default 2M buckets make it 500 MB for 0.0006 more accuracy).
REFINER_PARAMS = dict(epoch=25, lr=0.5, minn=3, maxn=6, wordNgrams=1, dim=64, bucket=50_000, thread=1, seed=0, verbose=0)

CYRILLIC = re.compile(r"[\u0400-\u04ff]")
LETTER = re.compile(r"[^\W\d_]")
# Serbian Cyrillic to Gaj's Latin alphabet, letter for letter (lowercase: refiners see lowercased text).
SERBIAN_LATIN = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "ђ": "đ", "е": "e", "ж": "ž", "з": "z", "и": "i",
    "ј": "j", "к": "k", "л": "l", "љ": "lj", "м": "m", "н": "n", "њ": "nj", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "ћ": "ć", "у": "u", "ф": "f", "х": "h", "ц": "c", "ч": "č", "џ": "dž", "ш": "š",
})


def is_cyrillic(text: str) -> bool:
    """More than half of the letters are Cyrillic."""
    letters = len(LETTER.findall(text))
    return letters > 0 and len(CYRILLIC.findall(text)) * 2 > letters


def serbian_latin(text: str) -> str:
    """Lowercased Serbian Cyrillic text in Latin letters."""
    return text.lower().translate(SERBIAN_LATIN)


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


def refiner_lines(rows: Sequence[tuple[str, str]], cluster: Cluster) -> list[str]:
    """fastText training lines of one cluster: lowercased sentences, plus Latin copies for ``also_latin``."""
    lines = []
    for label, sentence in rows:
        if label not in cluster.languages:
            continue
        text = one_line([sentence.lower()])[0]
        lines.append(f"{LABEL_PREFIX}{label} {text}\n")
        if label in cluster.also_latin and CYRILLIC.search(text):
            lines.append(f"{LABEL_PREFIX}{label} {serbian_latin(text)}\n")
    return lines


def train_refiners(rows: Sequence[tuple[str, str]], out_dir: Path, clusters: Sequence[Cluster] = CLUSTERS) -> dict[str, Path]:
    """Train one refiner per cluster from (label, sentence) rows; returns cluster name -> model path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for cluster in clusters:
        lines = refiner_lines(rows, cluster)
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
    with atomic_path(out_dir / REFINERS_MARKER) as tmp:
        tmp.write_text(json.dumps([asdict(c) for c in clusters if c.name in paths], indent=1))
    return paths


def refiners_version(labelled: Path) -> str:
    """The refiners' version in the model store: a hash of the labelled file, the settings and the clusters."""
    return f"refiners-{fingerprint(sha256_file(labelled), REFINER_PARAMS, [c.__dict__ for c in CLUSTERS])[:16]}"


def publish_refiners(models_dir: Path, labelled: Path) -> Path:
    """The refiners trained on the train half of ``labelled`` (reused when that version exists), made current."""
    version = refiners_version(labelled)
    folder, _ = store.publish(models_dir, NAME, version, lambda tmp: train_refiners(read_labelled(labelled, "train"), tmp),
                              marker=REFINERS_MARKER)
    store.set_current(models_dir, NAME, version)
    return folder


def current_refiners(models_dir: Path) -> Path | None:
    """The refiners folder the last ``langid_model`` run under ``models_dir`` pointed to, if it exists."""
    version = store.current_version(models_dir, NAME)
    if version is None:
        return None
    found = store.version_dir(models_dir, NAME, version)
    return found if (found / REFINERS_MARKER).exists() else None


def default_refiners_dir() -> Path | None:
    """The trained refiners of the data root (``$CORPUS_DATA_ROOT``, default ``./data``), if any."""
    return current_refiners(Layout.from_env().models)


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
                cluster = Cluster(**{k: v if k == "name" else tuple(v) for k, v in c.items()})
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
            if idx:
                choices = refine(cluster, model, [lines[i] for i in idx], [raw_labels[i] for i in idx], [raw_probs[i] for i in idx])
                for i, choice in zip(idx, choices):
                    if choice is not None:
                        labels[i], scores[i] = choice
        return labels, scores


def refine(cluster: Cluster, model, lines: Sequence[str], raw_labels, raw_probs) -> list[tuple[str, float] | None]:
    """(language, score) for texts lid.176 sent to ``cluster`` (its top-k labels and probabilities given):
    the argmax, over the languages the text's script allows, of P_lid176 x P_refiner, each plus
    ``PROBABILITY_FLOOR``. The product keeps lid.176's view where the refiner, trained on news sentences
    only, is unsure or off its distribution. None: a script the cluster's languages are not written in,
    lid.176's answer stands."""
    languages = cluster.languages
    lid = np.full((len(lines), len(languages)), PROBABILITY_FLOOR)
    refined = np.full_like(lid, PROBABILITY_FLOOR)
    p_cluster = np.zeros(len(lines))
    for j, (labs, probs) in enumerate(zip(raw_labels, raw_probs)):
        for lab, p in zip(labs, probs):
            lab = clean_label(lab)
            p_cluster[j] += p if lab in cluster.triggers else 0.0
            if lab in languages:
                lid[j, languages.index(lab)] += p
    ref_labels, ref_probs = model.predict([line.lower() for line in lines], k=len(languages))
    for j, (labs, probs) in enumerate(zip(ref_labels, ref_probs)):
        for lab, p in zip(labs, probs):
            refined[j, languages.index(clean_label(lab))] += p
    in_cyrillic = np.array([lab in cluster.cyrillic for lab in languages])
    allowed = np.array([in_cyrillic if is_cyrillic(line) else np.ones(len(languages), bool) for line in lines])
    joint = np.where(allowed, lid * refined, 0.0)
    total = joint.sum(axis=1)
    best = joint.argmax(axis=1)
    return [(languages[b], float(min(pc, 1.0) * joint[j, b] / t)) if t > 0 else None
            for j, (b, t, pc) in enumerate(zip(best, total, p_cluster))]


@dataclass
class Evaluation:
    per_language: dict[str, tuple[int, int]]  # label -> (correct, total)

    @property
    def accuracy(self) -> float:
        correct, total = self.counts
        return correct / total if total else 0.0

    @property
    def counts(self) -> tuple[int, int]:
        """(correct, total) over all languages."""
        return sum(c for c, _ in self.per_language.values()), sum(t for _, t in self.per_language.values())

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


def comparison_lines(base: Evaluation, refined: Evaluation | None) -> list[str]:
    """``label<TAB>sentences<TAB>lid.176<TAB>refined`` per language, then one ``accuracy`` line per system."""
    lines = ["language\tsentences\tlid.176\trefined"]
    for label, (_, total) in base.per_language.items():
        lines.append(f"{label}\t{total}\t{base.language_accuracy(label):.4f}\t"
                     + (f"{refined.language_accuracy(label):.4f}" if refined else "-"))
    for name, result in (("lid.176", base), ("refined", refined)):
        if result is not None:
            lines.append(f"{name}\taccuracy={result.accuracy:.4f}\t{result.counts[0]}/{result.counts[1]}")
    return lines


def comparison_markdown(base: Evaluation, refined: Evaluation | None) -> str:
    """The per-language accuracies of ``comparison_lines`` as a markdown table (3 decimals)."""
    rows = ["| language | sentences | lid.176 | + refiners |", "|---|---|---|---|"]
    for label, (_, total) in base.per_language.items():
        shown = f"{refined.language_accuracy(label):.3f}" if refined else "-"
        rows.append(f"| {label} | {total} | {base.language_accuracy(label):.3f} | {shown} |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    from quality_models import langid_sets  # it imports this module

    parser = argparse.ArgumentParser(prog="python -m quality_models.language_identifier", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("predict", "evaluate"):
        p = sub.add_parser(name)
        p.add_argument("--model", type=Path, default=None, help=f"fastText LID model (default: ${MODEL_ENV} or the venv's {MODEL_NAME})")
        refiners = p.add_mutually_exclusive_group()
        refiners.add_argument("--refiners", type=Path, default=None,
                              help="folder written by train-refiners (default: the ones langid_model trained under $CORPUS_DATA_ROOT, ./data)")
        refiners.add_argument("--no-refiners", action="store_true", help="lid.176 alone")
        if name == "evaluate":
            what = p.add_mutually_exclusive_group(required=True)
            what.add_argument("file", type=Path, nargs="?", help="label<TAB>sentence lines")
            what.add_argument("--set", choices=langid_sets.SETS, help="a labelled set of another distribution (quality_models.langid_sets)")
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
    refiners_dir = None if args.no_refiners else args.refiners or default_refiners_dir()
    if refiners_dir is None and not args.no_refiners:
        print("no trained refiners (materialize langid_model, or pass --refiners DIR): lid.176 alone", file=sys.stderr)
    model_path = args.model or default_model_path()
    identifier = LanguageIdentifier(model_path, refiners_dir)
    if args.command == "predict":
        _predict_stream(identifier, sys.stdin, sys.stdout)
        return 0
    rows = langid_sets.rows_of(args.set) if args.set else read_labelled(args.file, args.split)
    base = evaluate(LanguageIdentifier(model_path), rows)
    refined = evaluate(identifier, rows) if refiners_dir is not None else None
    print("\n".join(comparison_lines(base, refined)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
