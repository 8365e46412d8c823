"""Per-language KenLM models for the CCNet perplexity filter, trained by the project on Wikipedia.

For each language: the text of that language's Wikipedia documents, normalised as CCNet does
(``corpus.filters.perplexity.normalize_line``), one line per paragraph; a ``tokenizers`` BPE model
over Metaspace words, applied word by word (``LanguageModel.tokenize``; CCNet uses a SentencePiece
unigram model; the ``tokenizers`` Unigram trainer took ~2 minutes on the 3 MB English sample where
BPE takes ~1 s, and either gives KenLM subword units with no out-of-vocabulary words); then KenLM's
own trainer, ``lmplz -o 5 --discount_fallback`` and ``build_binary``, as subprocesses.
A fixed share of lines (by hash of document id + line number) is held out from training and
scored, so the manifest reports a held-out perplexity per language.

A model set is versioned by a hash of its training text and parameters and written atomically to
``models/perplexity/<version>/`` (``manifest.json`` last); the same data and parameters reuse it.
``current.json`` beside the versions names the set the filter uses.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import xxhash

from corpus.filters.perplexity import LanguageModel, normalized_lines, pp
from corpus.storage import fingerprint, iter_batches

NAME = "perplexity"
MODEL_FORMAT = 2  # bump when the files or the training procedure change meaning (2: held-out length = pieces)
UNK = "⁇"


# --- the model store: versioned folders written atomically, and a pointer to the current one ----

def version_dir(models_root: Path, name: str, version: str) -> Path:
    return Path(models_root) / name / version


def publish(models_root: Path, name: str, version: str, build) -> tuple[Path, bool]:
    """Build a model folder with ``build(tmp_dir)`` unless ``<name>/<version>/manifest.json`` exists.

    The folder is built under a temp name and renamed into place, so a crash leaves no half model.
    Returns (folder, reused).
    """
    final = version_dir(models_root, name, version)
    if (final / "manifest.json").exists():
        return final, True
    tmp = final.with_name(f"{version}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        build(tmp)
        if final.exists():  # an incomplete folder from an older crash
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return final, False


def set_current(models_root: Path, name: str, version: str) -> None:
    path = Path(models_root) / name / "current.json"
    tmp = path.with_name(f"current.json.tmp-{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps({"version": version}))
    os.replace(tmp, path)


def current_dir(models_root: Path, name: str) -> Path:
    """The model folder the filters use; a clear error when the model asset has not run."""
    pointer = Path(models_root) / name / "current.json"
    if not pointer.exists():
        raise FileNotFoundError(f"no trained {name!r} model under {models_root}: materialize its quality_models asset first")
    folder = version_dir(models_root, name, json.loads(pointer.read_text())["version"])
    if not (folder / "manifest.json").exists():
        raise FileNotFoundError(f"{pointer} names {folder}, which has no manifest.json")
    return folder


# --- KenLM binaries ------------------------------------------------------------------------------

def kenlm_bin(name: str) -> Path:
    """``lmplz`` / ``build_binary``: ``$CORPUS_KENLM_BIN`` or the venv's bin folder (scripts/setup.sh)."""
    folder = Path(os.environ.get("CORPUS_KENLM_BIN") or Path(sys.prefix) / "bin")
    path = folder / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise FileNotFoundError(f"KenLM's {name} not found at {path}: run scripts/setup.sh (builds lmplz and "
                                f"build_binary into the venv) or set CORPUS_KENLM_BIN to the folder holding them")
    return path


def _run(cmd: list[str], stdin=None, stdout=None) -> None:
    proc = subprocess.run(cmd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace")[-2000:]
        raise RuntimeError(f"{Path(cmd[0]).name} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")


# --- training ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KenlmParams:
    order: int
    vocab_size: int
    holdout_fraction: float
    min_train_lines: int
    languages: tuple[str, ...] = ()  # empty: every language with enough text
    lmplz_memory: str = "256M"  # lmplz -S; not part of the version (does not change the model)

    def versioned(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("lmplz_memory")
        return d


def is_heldout(key: str, fraction: float) -> bool:
    """Deterministic hold-out membership of a line, keyed by ``<doc id>:<line number>``."""
    return xxhash.xxh3_64_intdigest(key.encode()) % 1_000_000 < fraction * 1_000_000


@dataclass
class LanguageText:
    train: Path
    heldout: Path
    train_lines: int = 0
    heldout_lines: int = 0
    docs: int = 0
    digest: Any = field(default_factory=xxhash.xxh3_128)


def collect_text(parts: Iterable[Path], work_dir: Path, params: KenlmParams) -> dict[str, LanguageText]:
    """Stream Wikipedia parts into one normalised text file per language (train and held-out)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    texts: dict[str, LanguageText] = {}
    handles: dict[str, tuple[Any, Any]] = {}
    wanted = set(params.languages)
    try:
        for batch in iter_batches(parts, columns=["id", "lang", "text"]):
            for doc_id, lang, text in zip(*(batch.column(c).to_pylist() for c in ("id", "lang", "text"))):
                if not lang or (wanted and lang not in wanted):
                    continue
                if lang not in texts:
                    texts[lang] = LanguageText(work_dir / f"{lang}.train.txt", work_dir / f"{lang}.heldout.txt")
                    handles[lang] = (open(texts[lang].train, "w", encoding="utf-8"),
                                     open(texts[lang].heldout, "w", encoding="utf-8"))
                lt, (train, heldout) = texts[lang], handles[lang]
                lt.docs += 1
                for i, line in enumerate(normalized_lines(text)):
                    held = is_heldout(f"{doc_id}:{i}", params.holdout_fraction)
                    (heldout if held else train).write(line + "\n")
                    lt.digest.update(b"H" if held else b"T")
                    lt.digest.update(line.encode("utf-8") + b"\n")
                    if held:
                        lt.heldout_lines += 1
                    else:
                        lt.train_lines += 1
    finally:
        for train, heldout in handles.values():
            train.close()
            heldout.close()
    return texts


def train_tokenizer(train_path: Path, vocab_size: int, out: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[UNK], show_progress=False)
    tok.train([str(train_path)], trainer)
    tok.save(str(out))


def train_language(lang: str, text: LanguageText, params: KenlmParams, out_dir: Path) -> dict[str, Any]:
    """Tokenizer + ``lmplz`` + ``build_binary`` for one language; returns its manifest entry."""
    started = time.monotonic()
    tok_path, lm_path = out_dir / f"{lang}.tokenizer.json", out_dir / f"{lang}.kenlm.bin"
    train_tokenizer(text.train, params.vocab_size, tok_path)
    model = LanguageModel(tok_path, lm_path)  # its KenLM file is loaded on first use, once built below
    tokenized = out_dir / f"{lang}.tokenized.txt.tmp"
    arpa = out_dir / f"{lang}.arpa.tmp"
    tokens = 0
    with open(text.train, encoding="utf-8") as src, open(tokenized, "w", encoding="utf-8") as dst:
        while chunk := [line.rstrip("\n") for _, line in zip(range(4096), src)]:
            for line in model.tokenize(chunk):
                tokens += line.count(" ") + 1
                dst.write(line + "\n")
    lmplz, build_binary = kenlm_bin("lmplz"), kenlm_bin("build_binary")
    with open(tokenized, "rb") as src, open(arpa, "wb") as dst:
        _run([str(lmplz), "-o", str(params.order), "--discount_fallback", "--skip_symbols",
              "-S", params.lmplz_memory, "-T", str(out_dir)], stdin=src, stdout=dst)
    _run([str(build_binary), str(arpa), str(lm_path)])
    arpa.unlink()
    tokenized.unlink()
    heldout = [line.rstrip("\n") for line in open(text.heldout, encoding="utf-8")]
    logs, lengths = model.line_scores(model.tokenize(heldout))
    return {
        "tokenizer": tok_path.name, "lm": lm_path.name, "docs": text.docs,
        "train_lines": text.train_lines, "train_tokens": tokens,
        "vocab_size": model.tokenizer.get_vocab_size(),
        "heldout_lines": text.heldout_lines,
        "heldout_perplexity": round(pp(float(sum(logs)), int(sum(lengths))), 2) if heldout else None,
        "seconds": round(time.monotonic() - started, 2),
    }


def train_models(parts: list[Path], models_root: Path, work_dir: Path, params: KenlmParams,
                 log=None) -> tuple[Path, dict[str, Any], bool]:
    """Train (or reuse) the model set for ``parts``; returns (folder, manifest, reused)."""
    parts = sorted(parts)
    texts = collect_text(parts, work_dir, params)
    enough = {lang: t for lang, t in sorted(texts.items()) if t.train_lines >= params.min_train_lines}
    skipped = {lang: t.train_lines for lang, t in sorted(texts.items()) if lang not in enough}
    digests = {lang: t.digest.hexdigest() for lang, t in enough.items()}
    version = fingerprint(NAME, MODEL_FORMAT, params.versioned(), digests)

    def build(tmp: Path) -> None:
        languages = {}
        for lang, text in enough.items():
            if log:
                log(f"training KenLM {params.order}-gram for {lang!r} on {text.train_lines:,} lines")
            languages[lang] = train_language(lang, text, params, tmp)
            languages[lang]["data_digest"] = digests[lang]
        manifest = {"name": NAME, "version": version, "format": MODEL_FORMAT, "params": params.versioned(),
                    "languages": languages, "skipped_languages": skipped,
                    "training_parts": [p.name for p in parts]}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))

    folder, reused = publish(models_root, NAME, version, build)
    shutil.rmtree(work_dir, ignore_errors=True)
    return folder, json.loads((folder / "manifest.json").read_text()), reused
