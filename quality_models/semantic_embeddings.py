"""Document embeddings for semantic dedup that run on CPU: fastText word vectors trained by the project.

No sentence-embedding model can be downloaded here, so the project trains fastText unsupervised vectors
(``recipe.SEMDEDUP_FASTTEXT_*``) on the corpus itself. A document's embedding is the SIF-weighted mean of
its normalised word vectors (Arora et al. 2017: weight ``a / (a + p(word))``, p from the model's own word
counts), minus the mean embedding of the training documents (the common component every English text
shares), normalised to unit length. Words are ``corpus.text.shingle_words`` (NFKC, lowercase), the same
words the training text is written with. Word order does not matter: a shuffled document embeds alike.

Models live under ``models/semantic_embeddings/<version>/`` (``model.bin``, ``mean.npy``, ``manifest.json``),
the version a hash of the training text and the settings (``quality_models.store``).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from corpus import recipe
from corpus.dedup.minhash import word_hashes
from corpus.storage import Location, iter_batches
from corpus.fingerprints import fingerprint
from corpus.text import Words, normalize_for_shingles, shingle_words
from quality_models.fasttext_training import train_unsupervised
from quality_models.store import publish

NAME = "semantic_embeddings"
MODEL_FORMAT = 1
TRAIN_BATCH_ROWS = 256
WORD_ROWS = 1 << 16  # words whose weighted vectors are summed at once (WORD_ROWS x dim floats)
WORD_CACHE = 1 << 20  # word vectors kept between batches (by word hash); cleared when full


@dataclass(frozen=True)
class EmbeddingParams:
    model: str = recipe.SEMDEDUP_FASTTEXT_MODEL
    dim: int = recipe.SEMDEDUP_FASTTEXT_DIM
    epoch: int = recipe.SEMDEDUP_FASTTEXT_EPOCH
    min_count: int = recipe.SEMDEDUP_FASTTEXT_MIN_COUNT
    sif_a: float = recipe.SEMDEDUP_SIF_A
    max_train_chars: int = recipe.SEMDEDUP_MAX_TRAIN_CHARS


class DocumentEmbedder:
    """Unit-length float32 embeddings of a batch of texts (a model folder of ``train_embedding_model``)."""

    def __init__(self, folder: Path, center: bool = True):
        import fasttext

        fasttext.FastText.eprint = lambda *args, **kwargs: None
        manifest = json.loads((Path(folder) / "manifest.json").read_text())
        self.model = fasttext.load_model(str(Path(folder) / manifest["model"]))
        self.dim = self.model.get_dimension()
        words, counts = self.model.get_words(include_freq=True)
        p = np.asarray(counts, np.float64) / max(1, int(np.sum(counts)))
        a = manifest["params"]["sif_a"]
        self._weight = dict(zip(words, (a / (a + p)).tolist()))  # a word below minCount has p = 0: weight 1
        self.mean = np.load(Path(folder) / manifest["mean"]) if center else np.zeros(self.dim, np.float32)
        self._cache: dict[int, tuple[np.ndarray, float]] = {}

    def _vectors(self, words: Words, first: np.ndarray, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(unit word vectors, SIF weights) of the distinct words ``hashes``, word ``first[i]`` being one of each."""
        if len(self._cache) + len(hashes) > WORD_CACHE:
            self._cache.clear()
        vectors = np.empty((len(hashes), self.dim), np.float32)
        weights = np.empty(len(hashes), np.float32)
        for i, (h, f) in enumerate(zip(hashes.tolist(), first.tolist())):
            hit = self._cache.get(h)
            if hit is None:
                word = words.data[words.offsets[f]:words.offsets[f + 1]].tobytes().decode("utf-8")
                v = self.model.get_word_vector(word)
                norm = float(np.linalg.norm(v))
                hit = (v / norm if norm > 0 else v, self._weight.get(word, 1.0))
                self._cache[h] = hit
            vectors[i], weights[i] = hit
        return vectors, weights

    def embed(self, texts: pa.Array | pa.ChunkedArray | Sequence[str]) -> np.ndarray:
        """(documents, dim) float32, unit rows (a document without words: all zeros)."""
        words = shingle_words(texts)
        out = np.zeros((len(words.per_doc), self.dim), np.float32)
        if len(words.offsets) <= 1:
            return out
        distinct, first, inverse = np.unique(word_hashes(words.data, words.offsets), return_index=True,
                                             return_inverse=True)
        vectors, weights = self._vectors(words, first, distinct)
        doc = np.repeat(np.arange(len(words.per_doc)), words.per_doc)
        for s in range(0, len(inverse), WORD_ROWS):  # the weighted sum per document, a block of words at a time
            w = inverse[s:s + WORD_ROWS]
            np.add.at(out, doc[s:s + WORD_ROWS], vectors[w] * weights[w, None])
        has = words.per_doc > 0
        out[has] = _unit(out[has])  # the weighted mean's direction
        out[has] = _unit(out[has] - self.mean)
        return out


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _train_share(parts: Sequence[Location], max_chars: int) -> float:
    total = 0
    for batch in iter_batches(parts, columns=["text"]):
        total += pc.sum(pc.utf8_length(batch.column("text"))).as_py() or 0
    return 1.0 if total <= max_chars else max_chars / total


def _training_batches(parts: Sequence[Location], share: float) -> Iterable[pa.Array]:
    """The training documents' texts (a hash-priority share of the documents, by id), batch by batch."""
    cut = int(share * 2**64)
    for batch in iter_batches(parts, columns=["id", "text"], batch_size=TRAIN_BATCH_ROWS):
        keep = [xxhash.xxh3_64_intdigest(i.encode()) < cut for i in batch.column("id").to_pylist()]
        texts = batch.column("text").filter(pa.array(keep))
        if len(texts):
            yield texts


def train_embedding_model(parts: Sequence[Location], models_root: Path, params: EmbeddingParams) -> tuple[Path, dict, bool]:
    """Train (or reuse) the word vectors on ``parts``' documents; returns (folder, manifest, reused)."""
    if not parts:
        raise ValueError("no documents to train the semantic-dedup embedding model on")
    share = _train_share(parts, params.max_train_chars)
    digest = xxhash.xxh3_128()
    docs = 0
    for texts in _training_batches(parts, share):
        for t in texts.to_pylist():
            digest.update(t.encode())
            digest.update(b"\0")
        docs += len(texts)
    version = fingerprint(NAME, MODEL_FORMAT, asdict(params), digest.hexdigest())

    def build(tmp: Path) -> None:
        started = time.monotonic()
        train_file = tmp / "train.txt.tmp"
        with train_file.open("w", encoding="utf-8") as fh:  # one normalised document per line, batch by batch
            for texts in _training_batches(parts, share):
                fh.writelines(f"{t}\n" for t in normalize_for_shingles(texts).to_pylist())
        train_unsupervised(train_file, tmp / "model.bin", model=params.model, dim=params.dim, epoch=params.epoch,
                           minCount=params.min_count, thread=1, verbose=0)
        train_file.unlink()
        seconds = round(time.monotonic() - started, 2)
        manifest = {"name": NAME, "version": version, "format": MODEL_FORMAT, "params": asdict(params),
                    "model": "model.bin", "mean": "mean.npy", "train_documents": docs, "train_share": share,
                    "train_seconds": seconds}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        raw = DocumentEmbedder(tmp, center=False)
        total, n = np.zeros(raw.dim, np.float64), 0
        for texts in _training_batches(parts, share):
            e = raw.embed(texts)
            total += e.sum(0)
            n += len(e)
        np.save(tmp / "mean.npy", (total / max(n, 1)).astype(np.float32))

    folder, reused = publish(models_root, NAME, version, build)
    return folder, json.loads((folder / "manifest.json").read_text()), reused
