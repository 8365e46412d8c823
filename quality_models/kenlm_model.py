"""Per-language perplexity models for the CCNet filter: trained by the project on Wikipedia, or CCNet's own.

Trained (``train_models``), as CCNet trained its models: per language, the text of that language's
Wikipedia documents normalised as CCNet does (``corpus.filters.perplexity.normalize_line``), one line per
paragraph; a SentencePiece unigram tokeniser on it (``sentencepiece`` trainer, ``vocab_size`` an upper
bound: ``hard_vocab_limit=False`` lets a small text stop earlier); then KenLM's own trainer on the
pieces, ``lmplz -o 5 --discount_fallback`` and ``build_binary``, as subprocesses. The files are named as
CCNet's (``<lang>.sp.model``, ``<lang>.arpa.bin``), so one scoring path serves both kinds.
A fixed share of lines (by hash of document id + line number) is held out from training. The training
text is bounded, as CCNet bounded its own (the first 1M Wikipedia documents): the KenLM text is a
hash-priority sample of at most ``max_train_lines`` of the training lines, and the SentencePiece text the
``tokenizer_max_lines`` lowest of the same priorities (the trainer holds ~20 bytes per character of its
input), so training memory and the model's size stay flat however large Wikipedia grows. The model
carries its calibration, scored exactly as the filter scores documents: its perplexities of held-out
Wikipedia documents (their held-out paragraphs) and of reference web pages (e.g. C4, never the pages
it will filter), each a hash-priority sample of at most ``reference_max_docs`` documents, so cut-offs
exist for any input size (``corpus.filters.perplexity.choose_cutoffs``).

CCNet's released models (``fetch_ccnet_models``): ``<lang>.sp.model`` + ``<lang>.arpa.bin`` from a folder
or an http(s) base URL, through ``corpus.inputs.download`` (cache, resume, optional sha256); they carry
no calibration, and CCNet's published cut-offs may be used with them (and only with them).

A model set is versioned by a hash of its data and parameters and written atomically to
``models/perplexity/<version>/`` (``manifest.json`` last); the same data and parameters reuse it.
``current.json`` beside the versions names the set the filter uses.
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import xxhash

from corpus import recipe
from corpus.filters.perplexity import LM_SUFFIX, SP_SUFFIX, LanguageModel, language_files, normalize_line, pp
from corpus.inputs import DownloadError, download, sha256_file
from corpus.sampling import PrioritySample, PriorityThreshold
from corpus.storage import Layout, iter_batches
from corpus.fingerprints import fingerprint
from quality_models.store import publish

NAME = "perplexity"
# bump when the files or the training procedure change meaning (2: held-out length = pieces;
# 3: SentencePiece unigram + CCNet file names + calibration)
MODEL_FORMAT = 3


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
    """The training settings (defaults: corpus/recipe.py); ``max_train_lines`` / ``tokenizer_max_lines``: the
    KenLM and SentencePiece training texts' bounds (raise them on a machine with more memory)."""

    order: int = recipe.KENLM_ORDER
    vocab_size: int = recipe.KENLM_TOKENIZER_VOCAB
    holdout_fraction: float = recipe.KENLM_HOLDOUT_FRACTION
    min_train_lines: int = recipe.KENLM_MIN_TRAIN_LINES
    reference_max_docs: int = recipe.PERPLEXITY_REFERENCE_MAX_DOCS
    max_train_lines: int = recipe.KENLM_MAX_TRAIN_LINES
    tokenizer_max_lines: int = recipe.KENLM_TOKENIZER_MAX_LINES
    languages: tuple[str, ...] = ()  # empty: every language with enough text
    lmplz_memory: str = "256M"  # lmplz -S; not part of the version (does not change the model)
    threads: int = 2  # SentencePiece trainer threads; not part of the version

    def __post_init__(self):
        if self.max_train_lines < self.min_train_lines or self.tokenizer_max_lines < 1:
            raise ValueError(f"max_train_lines ({self.max_train_lines}) must be at least min_train_lines "
                             f"({self.min_train_lines}), and tokenizer_max_lines ({self.tokenizer_max_lines}) positive")

    def versioned(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("lmplz_memory")
        d.pop("threads")
        return d


def is_heldout(key: str, fraction: float) -> bool:
    """Deterministic hold-out membership of a line, keyed by ``<doc id>:<line number>``."""
    return xxhash.xxh3_64_intdigest(key.encode()) % 1_000_000 < fraction * 1_000_000


def id_priority(doc_id: str) -> int:
    """A document's place in the held-out and web-reference samples (xxh3 of its id)."""
    return xxhash.xxh3_64_intdigest(doc_id.encode())


def line_priority(key: str) -> int:
    """A training line's place in the training-text samples, keyed by ``<doc id>:<line number>`` (seed 1:
    independent of the held-out split, which hashes the same key with seed 0)."""
    return xxhash.xxh3_64_intdigest(key.encode(), seed=1)


@dataclass
class LanguageText:
    train: Path  # the KenLM training text: a sample of at most ``max_train_lines`` training lines
    heldout: Path
    tokenizer: Path  # the SentencePiece training text: the ``tokenizer_max_lines`` lowest of the same sample
    train_lines: int = 0  # lines in ``train``
    tokenizer_lines: int = 0
    available_lines: int = 0  # training lines in the language's Wikipedia, before sampling
    heldout_lines: int = 0
    docs: int = 0
    digest: Any = field(default_factory=xxhash.xxh3_128)
    heldout_docs: PrioritySample | None = None  # raw held-out paragraphs of a document, joined by newlines


PRIORITY_WIDTH = 16  # hex digits of a line's priority before its text in the unsampled training text


def collect_text(parts: Iterable[Path], work_dir: Path, params: KenlmParams) -> dict[str, LanguageText]:
    """Stream Wikipedia parts into normalised text files per language (held-out lines; training lines,
    each behind its priority), and a bounded sample of held-out documents (raw text) for the
    calibration; then cut the training lines down to their KenLM and SentencePiece samples."""
    work_dir.mkdir(parents=True, exist_ok=True)
    texts: dict[str, LanguageText] = {}
    handles: dict[str, tuple[Any, Any]] = {}
    thresholds: dict[str, PriorityThreshold] = {}
    wanted = set(params.languages)
    try:
        for batch in iter_batches(parts, columns=["id", "lang", "text"]):
            for doc_id, lang, text in zip(*(batch.column(c).to_pylist() for c in ("id", "lang", "text"))):
                if not lang or (wanted and lang not in wanted):
                    continue
                if lang not in texts:
                    texts[lang] = LanguageText(work_dir / f"{lang}.train.txt", work_dir / f"{lang}.heldout.txt",
                                               work_dir / f"{lang}.tokenizer.txt",
                                               heldout_docs=PrioritySample(params.reference_max_docs))
                    handles[lang] = (open(_unsampled(texts[lang]), "w", encoding="utf-8"),
                                     open(texts[lang].heldout, "w", encoding="utf-8"))
                    thresholds[lang] = PriorityThreshold(params.max_train_lines)
                lt, (train, heldout) = texts[lang], handles[lang]
                lt.docs += 1
                held_raw = []
                lines = [(raw, line) for raw in text.split("\n") if (line := normalize_line(raw))]
                for i, (raw, line) in enumerate(lines):
                    key = f"{doc_id}:{i}"
                    held = is_heldout(key, params.holdout_fraction)
                    lt.digest.update(b"H" if held else b"T")
                    lt.digest.update(line.encode("utf-8") + b"\n")
                    if held:
                        heldout.write(line + "\n")
                        lt.heldout_lines += 1
                        held_raw.append(raw)
                    else:
                        priority = line_priority(key)
                        train.write(f"{priority:0{PRIORITY_WIDTH}x} {line}\n")
                        thresholds[lang].add(priority)
                        lt.available_lines += 1
                if held_raw:
                    lt.heldout_docs.add(id_priority(doc_id), doc_id, "\n".join(held_raw))
    finally:
        for train, heldout in handles.values():
            train.close()
            heldout.close()
    for lang, lt in texts.items():
        sample_training_text(lt, thresholds[lang], params.tokenizer_max_lines)
    return texts


def _unsampled(text: LanguageText) -> Path:
    return text.train.with_name(text.train.name + ".unsampled")


def sample_training_text(text: LanguageText, threshold: PriorityThreshold, tokenizer_max_lines: int) -> None:
    """Rewrite the unsampled training lines (in their order) into the KenLM sample (the lines within
    ``threshold``'s cut) and the SentencePiece sample (within its cut at ``tokenizer_max_lines``)."""
    kenlm, tokenizer = threshold.cut(), threshold.cut(min(tokenizer_max_lines, threshold.capacity))
    source = _unsampled(text)
    with open(source, encoding="utf-8") as src, open(text.train, "w", encoding="utf-8") as kenlm_out, \
            open(text.tokenizer, "w", encoding="utf-8") as tokenizer_out:
        for row in src:
            priority, line = int(row[:PRIORITY_WIDTH], 16), row[PRIORITY_WIDTH + 1:]
            if kenlm.takes(priority):
                kenlm_out.write(line)
                text.train_lines += 1
            if tokenizer.takes(priority):
                tokenizer_out.write(line)
                text.tokenizer_lines += 1
    source.unlink()


def web_reference_docs(parts: Sequence[Path], max_docs: int) -> tuple[list[str], str]:
    """A hash-priority sample of reference web pages (texts) and a digest of it, streamed from parts."""
    sample = PrioritySample(max_docs)
    for batch in iter_batches(sorted(parts), columns=["id", "text"]):
        for doc_id, text in zip(batch.column("id").to_pylist(), batch.column("text").to_pylist()):
            sample.add(id_priority(doc_id), doc_id, text)
    digest = xxhash.xxh3_128()
    for _, doc_id, text in sample.items():
        digest.update(doc_id.encode() + b"\0" + text.encode("utf-8", "surrogatepass") + b"\0")
    return [text for _, _, text in sample.items()], digest.hexdigest()


def train_tokenizer(train_path: Path, vocab_size: int, out: Path, threads: int = 2) -> None:
    """A SentencePiece unigram model (CCNet's tokeniser kind) at ``out`` (``<lang>.sp.model``).

    Fed the lines and written through ``model_writer``: trained from a file with a model prefix, the model
    stores both paths (here a temp folder's random name), so each run wrote different bytes."""
    import sentencepiece

    model = io.BytesIO()
    with open(train_path, encoding="utf-8") as lines:
        sentencepiece.SentencePieceTrainer.train(sentence_iterator=(line.rstrip("\n") for line in lines),
                                                 model_writer=model, vocab_size=vocab_size, model_type="unigram",
                                                 hard_vocab_limit=False, num_threads=threads, minloglevel=2)
    out.write_bytes(model.getvalue())


def calibration(model: LanguageModel, wikipedia_docs: Sequence[str], web_docs: Sequence[str]) -> dict[str, Any]:
    """The model's own document perplexities (scored as the filter scores) of held-out Wikipedia and of
    reference web pages, sorted."""
    def scores(texts: Sequence[str]) -> list[float]:
        values = model.perplexities(texts) if texts else []
        return sorted(float(v) for v in values if v == v and v != float("inf"))

    return {"wikipedia": scores(wikipedia_docs), "web": scores(web_docs)}


def line_chunks(path: Path, size: int = 4096) -> Iterator[list[str]]:
    """The lines of a text file (newlines stripped) in lists of ``size``: bounded memory for any file."""
    with open(path, encoding="utf-8") as src:
        while chunk := [line.rstrip("\n") for _, line in zip(range(size), src)]:
            yield chunk


def train_language(lang: str, text: LanguageText, params: KenlmParams, out_dir: Path,
                   web_docs: Sequence[str] = ()) -> dict[str, Any]:
    """SentencePiece + ``lmplz`` + ``build_binary`` for one language, then its calibration; returns its
    manifest entry."""
    started = time.monotonic()
    files = language_files(lang)
    sp_path, lm_path = out_dir / files["sp"], out_dir / files["lm"]
    train_tokenizer(text.tokenizer, params.vocab_size, sp_path, params.threads)
    sp_seconds = time.monotonic() - started
    model = LanguageModel(sp_path, lm_path)  # its KenLM file is loaded on first use, once built below
    tokenized = out_dir / f"{lang}.tokenized.txt.tmp"
    arpa = out_dir / f"{lang}.arpa.tmp"
    tokens = 0
    with open(tokenized, "w", encoding="utf-8") as dst:
        for chunk in line_chunks(text.train):
            for line in model.tokenize(chunk):
                tokens += len(line.split())
                dst.write(line + "\n")
    lmplz, build_binary = kenlm_bin("lmplz"), kenlm_bin("build_binary")
    with open(tokenized, "rb") as src, open(arpa, "wb") as dst:
        _run([str(lmplz), "-o", str(params.order), "--discount_fallback", "--skip_symbols",
              "-S", params.lmplz_memory, "-T", str(out_dir)], stdin=src, stdout=dst)
    _run([str(build_binary), str(arpa), str(lm_path)])
    arpa.unlink()
    tokenized.unlink()
    heldout_log, heldout_length = 0.0, 0
    for chunk in line_chunks(text.heldout):
        logs, lengths = model.line_scores(model.tokenize(chunk))
        heldout_log, heldout_length = heldout_log + float(logs.sum()), heldout_length + int(lengths.sum())
    wiki_docs = [t for _, _, t in text.heldout_docs.items()] if text.heldout_docs else []
    return {
        **files, "docs": text.docs,
        "available_train_lines": text.available_lines, "train_lines": text.train_lines, "train_tokens": tokens,
        "tokenizer_lines": text.tokenizer_lines,
        "vocab_size": model.sp.get_piece_size(),
        "heldout_lines": text.heldout_lines,
        "heldout_perplexity": round(pp(heldout_log, heldout_length), 2) if heldout_length else None,
        "calibration": calibration(model, wiki_docs, web_docs),
        "tokenizer_seconds": round(sp_seconds, 2),
        "seconds": round(time.monotonic() - started, 2),
    }


def train_models(parts: list[Path], models_root: Path, work_dir: Path, params: KenlmParams, log=None,
                 web_reference: Mapping[str, Sequence[Path]] | None = None) -> tuple[Path, dict[str, Any], bool]:
    """Train (or reuse) the model set for Wikipedia ``parts``, calibrated on ``web_reference`` (language ->
    parts of reference web pages in it); returns (folder, manifest, reused)."""
    parts = sorted(parts)
    texts = collect_text(parts, work_dir, params)
    enough = {lang: t for lang, t in sorted(texts.items()) if t.available_lines >= params.min_train_lines}
    skipped = {lang: t.available_lines for lang, t in sorted(texts.items()) if lang not in enough}
    web = {lang: web_reference_docs(paths, params.reference_max_docs)
           for lang, paths in sorted((web_reference or {}).items()) if lang in enough and paths}
    digests = {lang: t.digest.hexdigest() for lang, t in enough.items()}
    version = fingerprint(NAME, MODEL_FORMAT, params.versioned(), digests, {lang: d for lang, (_, d) in web.items()})

    def build(tmp: Path) -> None:
        languages = {}
        for lang, text in enough.items():
            if log:
                log(f"training SentencePiece + KenLM {params.order}-gram for {lang!r} on {text.train_lines:,} "
                    f"of {text.available_lines:,} lines (tokenizer: {text.tokenizer_lines:,})")
            languages[lang] = train_language(lang, text, params, tmp, web.get(lang, ([], ""))[0])
            languages[lang]["data_digest"] = digests[lang]
            languages[lang]["web_reference_parts"] = sorted(p.name for p in (web_reference or {}).get(lang, ()))
        manifest = {"name": NAME, "kind": "trained", "version": version, "format": MODEL_FORMAT,
                    "params": params.versioned(), "languages": languages, "skipped_languages": skipped,
                    "training_parts": [p.name for p in parts]}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))

    folder, reused = publish(models_root, NAME, version, build)
    shutil.rmtree(work_dir, ignore_errors=True)
    return folder, json.loads((folder / "manifest.json").read_text()), reused


def train_data_root_models(layout: Layout, params: KenlmParams, web_reference_sources: Mapping[str, Sequence[str]],
                           log=None) -> tuple[Path, dict[str, Any], bool]:
    """``train_models`` on the data root's ingested Wikipedia, each language calibrated on the ingested pages
    of its ``web_reference_sources`` (language -> sources); the languages asked for count in sorted order."""
    web = {lang: [p for source in sources for p in layout.docs_parts("ingest", source)]
           for lang, sources in web_reference_sources.items()}
    return train_models(layout.docs_parts("ingest", "wikipedia"), layout.models, layout.work / "perplexity_models",
                        replace(params, languages=tuple(sorted(params.languages))), log=log, web_reference=web)


def _calibration_counts(m: Mapping[str, Any]) -> str:
    cal = m.get("calibration") or {}
    return f"{len(cal.get('wikipedia', []))} / {len(cal.get('web', []))}" if cal else "-"


def models_markdown(languages: Mapping[str, Mapping[str, Any]]) -> str:
    """A model set's languages as a markdown table (a CCNet set has only the files: ``-`` elsewhere)."""
    rows = [f"| {lang} | {m.get('docs', '-')} | {m.get('train_lines', '-')} | {m.get('train_tokens', '-')} | "
            f"{m.get('vocab_size', '-')} | {m.get('heldout_perplexity', '-')} | {_calibration_counts(m)} | "
            f"{m.get('tokenizer_seconds', '-')} | {m.get('seconds', '-')} |" for lang, m in languages.items()]
    return "\n".join(["| lang | docs | train lines | train tokens | vocab | held-out perplexity | "
                      "calibration docs (wikipedia / web) | tokenizer seconds | seconds |",
                      "|---|---|---|---|---|---|---|---|---|", *rows])


# --- CCNet's released models ---------------------------------------------------------------------

def _ccnet_file(source: str, name: str, cache: Path, sha256: str | None, retries: int) -> Path:
    """One released file: a local folder's, or downloaded from an http(s) base URL into ``cache``."""
    if not re.match(r"https?://", source):
        path = Path(source) / name
        if not path.is_file():
            raise FileNotFoundError(f"CCNet model file {path} not found (a CCNet model folder holds "
                                    f"<lang>{SP_SUFFIX} and <lang>{LM_SUFFIX} per language)")
        if sha256 is not None and sha256_file(path) != sha256:
            raise DownloadError(f"{path}: sha256 does not match the configured {sha256}")
        return path
    url = f"{source.rstrip('/')}/{name}"
    try:
        return download(url, cache / name, sha256=sha256, retries=retries, backoff_s=0.5)
    except DownloadError as exc:
        host = url.split("/")[2]
        raise DownloadError(f"CCNet model {url} could not be fetched from {host} ({exc}); give a local folder "
                            f"holding the released files instead, or leave it unset to train the project's own "
                            f"models") from exc


def fetch_ccnet_models(source: str, languages: Sequence[str], models_root: Path,
                       sha256: Mapping[str, str] | None = None, retries: int = 1) -> tuple[Path, dict[str, Any], bool]:
    """CCNet's released ``<lang>.sp.model`` + ``<lang>.arpa.bin`` as a model set of kind ``ccnet``
    (files hard-linked, else copied, from the download cache into the version folder)."""
    if not languages:
        raise ValueError("fetch_ccnet_models needs at least one language")
    cache = Path(models_root) / NAME / "ccnet-downloads" / fingerprint(source)[:16]
    files = {lang: language_files(lang) for lang in sorted(languages)}
    got = {name: _ccnet_file(source, name, cache, (sha256 or {}).get(name), retries)
           for f in files.values() for name in f.values()}
    digests = {name: sha256_file(path) for name, path in got.items()}
    version = fingerprint(NAME, MODEL_FORMAT, "ccnet", digests)

    def build(tmp: Path) -> None:
        for name, path in got.items():
            try:
                os.link(path, tmp / name)
            except OSError:
                shutil.copyfile(path, tmp / name)
        manifest = {"name": NAME, "kind": "ccnet", "version": version, "format": MODEL_FORMAT, "source": source,
                    "languages": {lang: {**f, "sha256": {k: digests[v] for k, v in f.items()}} for lang, f in files.items()}}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))

    folder, reused = publish(models_root, NAME, version, build)
    return folder, json.loads((folder / "manifest.json").read_text()), reused
