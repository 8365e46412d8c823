"""The tokenizer (LLaMA-style): BPE with byte fallback (a character never seen in training becomes its UTF-8
bytes ``<0x00>``..``<0xFF>``, never ``<unk>``), a Metaspace pre-tokenizer (spaces become ``▁`` and are
kept, so decoding is lossless) and every digit its own token (LLaMA-1 section 2.1). Special tokens
``<unk>`` 0, ``<s>`` 1, ``</s>`` 2 (the EOS between documents), ``<pad>`` 3. It is versioned by a hash of
its settings and of the exact texts it was trained on: ``models/tokenizer/<hash>/``.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from corpus import mixture
from corpus.storage import atomic_path, iter_batches

UNK, BOS, EOS, PAD = "<unk>", "<s>", "</s>", "<pad>"
SPECIAL_TOKENS = [UNK, BOS, EOS, PAD]
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]
ENCODE_BATCH_ROWS = 1024
ENCODE_BATCH_CHARS = 8 << 20
LATEST = "LATEST"

def enable_parallelism() -> None:
    # tokenizers runs encode_batch on a rayon pool unless this says false; keep a user's explicit choice
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

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

def token_counter(path: Path) -> Callable[[list[str]], list[int]]:
    """The exact token count of each text of a batch with the ``tokenizer.json`` at ``path`` (no special
    tokens: the mixture counts the EOS itself), for ``mixture.make_plan(count=...)``."""
    tok = load_tokenizer(path)
    return lambda texts: [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]

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
