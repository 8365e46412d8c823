"""Text normalisation shared by the dedup stages."""
from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def normalize_for_hash(text: str) -> str:
    """NFKC, lowercase, whitespace collapsed: two copies differing only in layout hash the same."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def normalize_for_shingles(text: str) -> str:
    """As ``normalize_for_hash`` with punctuation stripped too (MinHash word n-grams)."""
    return _SPACES.sub(" ", _PUNCT.sub(" ", unicodedata.normalize("NFKC", text).lower())).strip()
