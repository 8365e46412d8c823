"""The tokenizer and the token shards: the mixture plan turned into flat ``.bin`` files of token ids.

Tokenizer (LLaMA-style): BPE with byte fallback (a character never seen in training becomes its UTF-8
bytes ``<0x00>``..``<0xFF>``, never ``<unk>``), a Metaspace pre-tokenizer (spaces become ``▁`` and
are kept, so decoding is lossless) and every digit its own token (LLaMA-1 section 2.1). Special
tokens ``<unk>`` 0, ``<s>`` 1, ``</s>`` 2 (the EOS between documents), ``<pad>`` 3. It is versioned
by a hash of its settings and of the exact texts it was trained on: ``models/tokenizer/<hash>/``.

Shards (nanoGPT layout, see docs/SHARDS.md): the plan's rows, in order, each document's ids followed
by EOS, concatenated and cut into fixed-size little-endian ``train_NNNNNN.bin`` files (uint16 while
the vocabulary fits in 65,536 ids, else uint32); the held-out documents go to ``val_NNNNNN.bin``.
Beside them, ``megatron/<split>.bin|.idx``: the same tokens as Megatron-Core indexed datasets, one
sequence per document (``corpus/megatron.py``). ``manifest.json`` is written last: its existence means
the folder is complete.

Encoding streams the curated parts once, one document range (a part's needed documents) at a time
(``encode_range``: ``encode_batch`` over record batches, the Rust side runs the batch on all cores; a
range is a unit a worker can take), merged in range order into a temporary token cache, because a document repeated over several epochs is
encoded once and then gathered in plan order from a memmap. With the exact counts the planner runs
again (same seeds) so the achieved shares are exact, not estimated.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus import funnel, megatron, mixture
from corpus.faults import crash_point
from corpus.inputs import sha256_file
from corpus.storage import TMP_MARK, Layout, atomic_path, iter_batches

UNK, BOS, EOS, PAD = "<unk>", "<s>", "</s>", "<pad>"
SPECIAL_TOKENS = [UNK, BOS, EOS, PAD]
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]
MANIFEST = "manifest.json"
ENCODE_BATCH_ROWS = 1024
ENCODE_BATCH_CHARS = 8 << 20
LATEST = "LATEST"
MANIFEST_VERSION = 4  # 2: `val_documents` (the held-out documents' sources and spans); 3: `target_shares_pct`,
# `share_report` and `missing_sources` (achieved next to the shares table's own targets); 4: `formats` (Megatron)


def _enable_parallelism() -> None:
    # tokenizers runs encode_batch on a rayon pool unless this says false; keep a user's explicit choice
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")


# --- tokenizer -------------------------------------------------------------------------------------

def new_tokenizer():
    """An untrained LLaMA-style BPE tokenizer (byte fallback, Metaspace, single digits)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE(unk_token=UNK, byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True),
        pre_tokenizers.Digits(individual_digits=True),
    ])
    # the decoder of HF's LLaMA tokenizer: spaces back, bytes back to UTF-8, drop the prepended space
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    return tok


def tokenizer_settings(vocab_size: int) -> dict:
    import tokenizers
    return dict(model="bpe", byte_fallback=True, pre_tokenizer="metaspace+single_digits", vocab_size=vocab_size,
                special=SPECIAL_TOKENS, min_frequency=2, limit_alphabet=1000, tokenizers=tokenizers.__version__)


def training_hash(texts: Iterable[str], settings: Mapping) -> str:
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for t in texts:
        h.update(hashlib.sha256(t.encode("utf-8", "surrogatepass")).digest())
    return h.hexdigest()[:16]


def train_tokenizer(texts: Callable[[], Iterable[str]], vocab_size: int, out: Path) -> dict:
    """Train on ``texts()`` (called twice: once to hash, once to train) into ``out/<hash>/tokenizer.json``.

    Returns ``{"hash", "path", "vocab_size", "reused"}``; an existing tokenizer of the same hash is reused.
    """
    from tokenizers import Tokenizer, trainers

    settings = tokenizer_settings(vocab_size)
    digest = training_hash(texts(), settings)
    path = out / digest / "tokenizer.json"
    if path.exists():
        return dict(hash=digest, path=path, vocab_size=Tokenizer.from_file(str(path)).get_vocab_size(), reused=True)
    tok = new_tokenizer()
    # byte tokens are listed as "special" only so the trainer puts them in the vocabulary at fixed ids;
    # they are then removed from the added tokens, so a literal "<0x41>" in text is not matched as one
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=settings["min_frequency"],
                                  limit_alphabet=settings["limit_alphabet"], show_progress=False,
                                  special_tokens=SPECIAL_TOKENS + BYTE_TOKENS)
    tok.train_from_iterator(_batched(texts()), trainer=trainer)
    spec = json.loads(tok.to_str())
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] in SPECIAL_TOKENS]
    tok = Tokenizer.from_str(json.dumps(spec))
    with atomic_path(path) as tmp:
        tmp.write_text(tok.to_str(), encoding="utf-8")
    return dict(hash=digest, path=path, vocab_size=tok.get_vocab_size(), reused=False)


def install_tokenizer(user_file: Path, out: Path) -> dict:
    """A user-supplied ``tokenizer.json``, versioned by the hash of its bytes."""
    from tokenizers import Tokenizer

    data = Path(user_file).read_bytes()
    digest = "user-" + hashlib.sha256(data).hexdigest()[:16]
    path = out / digest / "tokenizer.json"
    if not path.exists():
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    tok = Tokenizer.from_file(str(path))
    if eos_id(tok) is None:
        raise ValueError(f"{user_file}: no EOS token ({EOS} or <eos>) in the vocabulary")
    return dict(hash=digest, path=path, vocab_size=tok.get_vocab_size(), reused=False)


def set_latest(out: Path, digest: str) -> None:
    with atomic_path(out / LATEST) as tmp:
        tmp.write_text(digest + "\n")


def latest_tokenizer(out: Path) -> tuple[str, Path]:
    marker = out / LATEST
    if not marker.exists():
        raise FileNotFoundError(f"no tokenizer under {out}: materialize the `tokenizer` asset first")
    digest = marker.read_text().strip()
    return digest, out / digest / "tokenizer.json"


def load_tokenizer(path: Path):
    from tokenizers import Tokenizer
    return Tokenizer.from_file(str(path))


def eos_id(tok) -> int | None:
    for name in (EOS, "<eos>", "<|endoftext|>"):
        i = tok.token_to_id(name)
        if i is not None:
            return i
    return None


def _batched(texts: Iterable[str], rows: int = ENCODE_BATCH_ROWS) -> Iterator[list[str]]:
    batch: list[str] = []
    for t in texts:
        batch.append(t)
        if len(batch) >= rows:
            yield batch
            batch = []
    if batch:
        yield batch


def sample_texts(parts: Mapping[str, list[Path]], plan: pa.Table, max_chars: int) -> Iterator[str]:
    """The texts of the first planned (train) documents, in plan order, up to ~``max_chars``.

    Documents are chosen by plan order (seeded, so every source is represented in its share) and read
    back in part order (streaming; BPE training is order-independent).
    """
    train = plan.filter(pc.equal(plan.column("split"), "train"))
    chosen: set[str] = set()
    budget = 0.0
    for i, t in zip(train.column("id").to_pylist(), train.column("tokens").to_pylist()):
        if i in chosen:
            continue
        chosen.add(i)
        budget += t * mixture.CHARS_PER_TOKEN_ESTIMATE
        if budget >= max_chars:
            break
    wanted = pa.array(sorted(chosen), pa.string())
    for source in sorted(parts):
        for batch in iter_batches(parts[source], columns=["id", "text"]):
            mask = pc.is_in(batch.column("id"), value_set=wanted)
            yield from batch.filter(mask).column("text").to_pylist()


# --- encoding --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EncodeRange:
    """A document range to encode: the needed documents (``ids``) of one curated part, in its row order."""

    source: str
    part: Path
    ids: pa.Array


def encode_range(tok, doc_range: EncodeRange, out: Path) -> tuple[list[str], list[int]]:
    """Encode one document range into ``out`` (flat uint32 ids, the documents one after the other); returns
    the encoded ids in row order and their lengths. Pure per range: a worker can run it anywhere."""
    ids: list[str] = []
    lengths: list[int] = []
    with open(out, "wb") as fh:
        for batch in iter_batches([doc_range.part], columns=["id", "text"]):
            batch = batch.filter(pc.is_in(batch.column("id"), value_set=doc_range.ids))
            if batch.num_rows == 0:
                continue
            encs = tok.encode_batch(batch.column("text").to_pylist(), add_special_tokens=False)
            lengths += [len(e.ids) for e in encs]
            ids += batch.column("id").to_pylist()
            fh.write(np.fromiter((t for e in encs for t in e.ids), dtype=np.uint32,
                                 count=sum(len(e.ids) for e in encs)).tobytes())
    return ids, lengths


class TokenCache:
    """Encoded documents, appended to one flat uint32 file; an in-memory index id -> (start, length).

    Documents are encoded per range (``encode_range``: the needed documents of one part) and the ranges
    appended in range order (source, then part order), so the cache, and every shard gathered from it,
    is the same bytes whichever worker encoded which range."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "tokens.u32"
        self.path.touch()
        self.index: dict[str, tuple[int, int]] = {}
        self.size = 0
        self.ranges_encoded = 0

    def ranges(self, parts: Mapping[str, list[Path]], needed: Mapping[str, set[str]]) -> list[EncodeRange]:
        """The document ranges holding every needed document not yet cached, in merge order."""
        out = []
        for source in sorted(needed):
            todo = pa.array(sorted(i for i in needed[source] if i not in self.index), pa.string())
            if len(todo):
                out += [EncodeRange(source, part, todo) for part in parts.get(source, [])]
        return out

    def encode(self, tok, parts: Mapping[str, list[Path]], needed: Mapping[str, set[str]]) -> int:
        """Encode every needed document not yet cached, range by range; returns how many were encoded."""
        _enable_parallelism()
        done = 0
        for doc_range in self.ranges(parts, needed):
            range_file = self.folder / f"range-{self.ranges_encoded:06d}.u32"
            self.ranges_encoded += 1
            ids, lengths = encode_range(tok, doc_range, range_file)
            done += self.append(ids, lengths, range_file)
        return done

    def append(self, ids: list[str], lengths: list[int], range_file: Path) -> int:
        """Merge one encoded range (``encode_range``'s result) at the end of the cache; the range file goes."""
        with open(self.path, "ab") as out, open(range_file, "rb") as src:
            shutil.copyfileobj(src, out)
        range_file.unlink()
        for i, n in zip(ids, lengths):
            self.index[i] = (self.size, n)
            self.size += n
        return len(ids)

    def counts(self) -> dict[str, int]:
        return {i: n for i, (_, n) in self.index.items()}

    def tokens(self) -> np.ndarray:
        if self.size == 0:
            return np.zeros(0, dtype=np.uint32)
        return np.memmap(self.path, dtype=np.uint32, mode="r", shape=(self.size,))


def exact_plan(parts, estimated: Mapping[str, mixture.DocPool], cache: TokenCache, tok,
               shares_pct, total_tokens, seed, sample_seed, heldout: mixture.HeldOutPolicy,
               max_rounds: int = 6) -> tuple[mixture.MixturePlan, int]:
    """Re-plan with exact token counts: encode what the plan uses, re-plan, until nothing new is needed.

    Counts of documents not yet encoded stay estimates; a re-plan that reaches further into a partial
    pass triggers one more (small) encoding round. Returns the plan and the number of rounds.
    """
    for rounds in range(1, max_rounds + 1):
        counts = cache.counts()
        pools = {s: p.with_tokens([counts.get(i, t) for i, t in zip(p.ids, p.tokens)]) for s, p in estimated.items()}
        plan = mixture.plan_mixture(pools, shares_pct, total_tokens, seed, sample_seed, heldout,
                                    count_method="exact" if rounds > 1 else "estimate")
        needed = {}
        for s, i in zip(plan.table.column("source").to_pylist(), plan.table.column("id").to_pylist()):
            if i not in cache.index:
                needed.setdefault(s, set()).add(i)
        if not needed:
            plan.count_method = "exact"
            return plan, rounds
        cache.encode(tok, parts, needed)
    raise RuntimeError(f"mixture plan did not settle on exact token counts after {max_rounds} rounds")


# --- shards ----------------------------------------------------------------------------------------

@dataclass
class ShardWriter:
    """Fixed-size shards of one split, each written to a temp name and renamed, with its sha256."""

    folder: Path
    prefix: str
    dtype: np.dtype
    shard_tokens: int
    counts: np.ndarray | None = None  # unigram counts of everything written, if given

    def __post_init__(self):
        self.buf = np.empty(self.shard_tokens, dtype=self.dtype)
        self.fill = 0
        self.entries: list[dict] = []

    def add(self, tokens: np.ndarray) -> None:
        pos = 0
        while pos < len(tokens):
            n = min(len(tokens) - pos, self.shard_tokens - self.fill)
            self.buf[self.fill:self.fill + n] = tokens[pos:pos + n]
            self.fill += n
            pos += n
            if self.fill == self.shard_tokens:
                self.flush()

    def flush(self) -> None:
        if self.fill == 0:
            return
        name = f"{self.prefix}_{len(self.entries):06d}.bin"
        if self.counts is not None:
            self.counts += np.bincount(self.buf[:self.fill], minlength=len(self.counts))[:len(self.counts)]
        data = self.buf[:self.fill].astype(self.dtype.newbyteorder("<"), copy=False).tobytes()
        with atomic_path(self.folder / name) as tmp:
            tmp.write_bytes(data)
            crash_point("shard")
        self.entries.append(dict(path=name, split=self.prefix, tokens=int(self.fill),
                                 sha256=hashlib.sha256(data).hexdigest()))
        self.fill = 0


def write_split(plan: pa.Table, split: str, cache_tokens: np.ndarray, index: Mapping[str, tuple[int, int]],
                eos: int, writer: ShardWriter, documents: list | None = None,
                dataset: megatron.IndexedDatasetWriter | None = None) -> dict[str, int]:
    """Gather the split's rows in order from the token cache into shards; returns tokens per source.

    ``documents``, if given, receives ``[source, start, tokens]`` per row: where the document starts in
    the split (token offset over its concatenated shards) and its length, its trailing EOS included.
    ``dataset``, if given, receives every row as one Megatron sequence (the same tokens, EOS included).
    """
    rows = plan.filter(pc.equal(plan.column("split"), split)).sort_by("order")
    per_source: dict[str, int] = {}
    eos_arr = np.asarray([eos], dtype=writer.dtype)
    offset = 0
    for ids, sources, takes in _chunks(rows, 4096):
        for i, s, take in zip(ids, sources, takes):
            start, n = index[i]
            n = n if take < 0 else min(take, n)
            doc = cache_tokens[start:start + n]
            writer.add(doc)
            writer.add(eos_arr)
            if dataset is not None:
                dataset.add_document(doc, eos)
            per_source[s] = per_source.get(s, 0) + n + 1
            if documents is not None:
                documents.append([s, offset, n + 1])
            offset += n + 1
    writer.flush()
    return per_source


def _chunks(table: pa.Table, n: int):
    for off in range(0, table.num_rows, n):
        part = table.slice(off, n)
        yield part.column("id").to_pylist(), part.column("source").to_pylist(), part.column("take_tokens").to_pylist()


def entropy_nats(counts: np.ndarray) -> float:
    """Unigram entropy (nats/token) of a count vector: the loss of the best context-free model."""
    total = counts.sum()
    if total == 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log(p)).sum())


def shard_dtype(vocab_size: int) -> np.dtype:
    # uint16 holds ids < 65,536 (half the bytes of uint32, as nanoGPT); beyond that uint32
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


def read_manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST
    return json.loads(path.read_text()) if path.exists() else None


def _shard_size_problem(folder: Path, shard: dict, width: int) -> str | None:
    """Why a manifest entry's file is not there at its size; None when it is."""
    path = folder / shard["path"]
    if not path.is_file():
        return f"{shard['path']}: missing"
    if path.stat().st_size != shard["tokens"] * width:
        return f"{shard['path']}: {path.stat().st_size:,} bytes, manifest says {shard['tokens'] * width:,}"
    return None


def manifest_problems(folder: Path, m: dict | None) -> list[str]:
    """What is wrong with a shard folder against its manifest ``m`` (``read_manifest``): missing, resized
    or altered shards and Megatron files (sha256, streamed), token counts that do not add up, and unlisted
    ``.bin`` files."""
    if m is None:
        return [f"{folder / MANIFEST} does not exist"]
    width = np.dtype(m["dtype"]).itemsize
    problems = []
    for s in m["shards"]:
        size_problem = _shard_size_problem(folder, s, width)
        if size_problem is not None:
            problems.append(size_problem)
        elif sha256_file(folder / s["path"]) != s["sha256"]:
            problems.append(f"{s['path']}: sha256 differs from the manifest")
    train = sum(s["tokens"] for s in m["shards"] if s.get("split", "train") == "train")
    if train != m["train_tokens"] or train != sum(m["sources"].values()):
        problems.append(f"train shards hold {train:,} tokens, manifest says {m['train_tokens']:,} "
                        f"({sum(m['sources'].values()):,} by source)")
    problems += megatron.file_problems(folder, m)
    listed = {s["path"] for s in m["shards"]}
    problems += [f"{p.name}: not in the manifest" for p in sorted(folder.glob("*.bin")) if p.name not in listed]
    return problems


def manifest_is_current(folder: Path, key: str) -> bool:
    """A completed folder made from the same inputs and settings, every shard present at its size."""
    m = read_manifest(folder)
    if not m or m.get("key") != key:
        return False
    width = np.dtype(m["dtype"]).itemsize
    return (all(_shard_size_problem(folder, s, width) is None for s in m["shards"])
            and not megatron.file_problems(folder, m, check_sha256=False))


def build_token_shards(layout: Layout, stage: str, plan_path: Path, tokenizer_dir: Path, out: Path,
                       shard_tokens: int, log: Callable[[str], None] = print, force: bool = False) -> dict:
    """Encode the mixture plan into ``out`` and write ``manifest.json`` last; returns the manifest."""
    parts = mixture.curated_parts(layout, stage)
    snapshot = mixture.catalog_snapshot(parts, layout.data)
    meta = mixture.read_plan_meta(plan_path)
    settings = json.loads(meta["settings"])
    if meta.get("catalog_snapshot") != snapshot:
        raise RuntimeError("the curated corpus changed since the mixture was planned: materialize `mixture` again")
    tok_hash, tok_path = latest_tokenizer(tokenizer_dir)
    key = hashlib.sha256(json.dumps([MANIFEST_VERSION, snapshot, tok_hash, meta.get("settings"), shard_tokens],
                                    sort_keys=True).encode()).hexdigest()[:32]
    if not force and manifest_is_current(out, key):
        log(f"token shards in {out} are current (key {key}), skipped")
        return read_manifest(out) | {"skipped": True}
    tok = load_tokenizer(tok_path)
    eos = eos_id(tok)
    vocab = tok.get_vocab_size()
    dtype = shard_dtype(vocab)
    estimated = mixture.estimate_pools(parts)
    cache_root = layout.work / "token_cache"
    for stale in cache_root.glob(f"*{TMP_MARK}*") if cache_root.exists() else ():  # a killed run's cache
        shutil.rmtree(stale, ignore_errors=True)
    cache = TokenCache(cache_root / f"{key}{TMP_MARK}{uuid.uuid4().hex[:8]}")
    try:
        plan, rounds = exact_plan(parts, estimated, cache, tok, settings["shares_pct"], settings["total_tokens"],
                                  settings["seed"], settings["sample_seed"],
                                  mixture.HeldOutPolicy(**settings["heldout"]))
        log(f"exact plan after {rounds} encoding round(s): {len(cache.index):,} documents encoded, "
            f"{cache.size:,} tokens")
        for w in plan.warnings:
            log(f"WARNING: {w}")
        plan_sha = mixture.write_plan(plan, layout.work / "mixture" / "plan_exact.parquet",
                                      {"settings": meta["settings"], "catalog_snapshot": snapshot,
                                       "tokenizer": tok_hash})
        out.mkdir(parents=True, exist_ok=True)
        (out / MANIFEST).unlink(missing_ok=True)  # from here on the folder is incomplete
        tokens = cache.tokens()
        counts = np.zeros(vocab, dtype=np.int64)
        train = ShardWriter(out, "train", dtype, shard_tokens, counts)
        with megatron.IndexedDatasetWriter(out / megatron.FOLDER, "train", vocab) as train_dataset:
            per_source = write_split(plan.table, "train", tokens, cache.index, eos, train, dataset=train_dataset)
        val = ShardWriter(out, "val", dtype, shard_tokens)
        val_documents: list = []
        with megatron.IndexedDatasetWriter(out / megatron.FOLDER, "val", vocab) as val_dataset:
            val_sources = write_split(plan.table, "val", tokens, cache.index, eos, val, val_documents, val_dataset)
        del tokens
    finally:
        shutil.rmtree(cache.folder, ignore_errors=True)
    entries = train.entries + val.entries
    keep = {e["path"] for e in entries} | {MANIFEST}
    for p in out.iterdir():  # stale shards of a previous configuration, and temps a killed run left
        if p.is_file() and p.name not in keep and (p.suffix == ".bin" or TMP_MARK in p.name):
            p.unlink()
    total = sum(per_source.values())
    report = plan.report()
    shares = mixture.share_report(settings["shares_pct"], per_source)
    manifest = {
        "version": MANIFEST_VERSION,
        "key": key,
        "dtype": dtype.name,
        "byte_order": "little",
        "vocab_size": vocab,
        "eos_id": eos,
        "bos_id": tok.token_to_id(BOS),
        "shards": entries,
        "train_tokens": total,
        "val_tokens": sum(val_sources.values()),
        "sources": per_source,
        "val_sources": val_sources,
        "val_documents": val_documents,
        "weights": {s: r["target_share_pct"] / 100 for s, r in report["sources"].items()},
        "achieved_shares": {s: n / total for s, n in per_source.items()} if total else {},
        "target_shares_pct": settings["shares_pct"],
        "share_report": shares,
        "missing_sources": funnel.why_missing(layout, [s for s, r in shares.items() if r["missing"]], stage),
        "epochs": {s: r["epochs"] for s, r in report["sources"].items()},
        "documents": {s: r["docs"] for s, r in report["sources"].items()},
        "warnings": plan.warnings,
        "seed": settings["seed"],
        "sample_seed": settings["sample_seed"],
        "total_tokens_target": settings["total_tokens"],
        "tokenizer": {"hash": tok_hash, "path": str(tok_path.relative_to(layout.root)) if tok_path.is_relative_to(layout.root) else str(tok_path)},
        "catalog_snapshot": snapshot,
        "plan_sha256": plan_sha,
        "unigram_entropy_nats": entropy_nats(counts),
        "encoding_rounds": rounds,
        # `shards` above is the flat (nanoGPT) format; every format of the same tokens, by name
        "formats": {"flat": {"layout": "nanogpt", "files": "shards"},
                    "megatron": megatron.format_entry(vocab, [train_dataset, val_dataset])},
    }
    with atomic_path(out / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def tokenizer_dir(layout: Layout) -> Path:
    return layout.models / "tokenizer"


def build_tokenizer(layout: Layout, stage: str, plan_path: Path, vocab_size: int, sample_chars: int,
                    user_file: Path | None = None) -> dict:
    """Train the tokenizer on a sample of the planned documents (or install a user's) and mark it latest."""
    out = tokenizer_dir(layout)
    if user_file is not None:
        info = install_tokenizer(user_file, out)
        info["trained_on_chars"] = 0
    else:
        import pyarrow.parquet as pq
        parts = mixture.curated_parts(layout, stage)
        plan = pq.read_table(plan_path)
        chars = [0]

        def texts() -> Iterator[str]:
            chars[0] = 0
            for t in sample_texts(parts, plan, sample_chars):
                chars[0] += len(t)
                yield t
        info = train_tokenizer(texts, vocab_size, out)
        info["trained_on_chars"] = chars[0]
    set_latest(out, info["hash"])
    return info
