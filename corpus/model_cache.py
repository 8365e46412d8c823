"""Heavy models loaded once per process, keyed by their file: a Ray worker process keeps them across the
part tasks it runs (a task gets a freshly unpickled filter, never a loaded model)."""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=16)
def fasttext_model(path: str):
    import fasttext

    # fastText prints a deprecation warning on every load_model; it is noise in logs.
    fasttext.FastText.eprint = lambda *args, **kwargs: None
    return fasttext.load_model(path)


@lru_cache(maxsize=32)
def kenlm_model(path: str):
    import kenlm

    return kenlm.Model(path)


@lru_cache(maxsize=32)
def sentencepiece_model(path: str):
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=path)


@lru_cache(maxsize=8)
def tokenizer(path: str):
    """A tokenizers ``Tokenizer`` from its JSON file (a worker encoding many document ranges loads it once)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(path)
