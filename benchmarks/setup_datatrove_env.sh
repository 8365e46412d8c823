#!/usr/bin/env bash
# Build the SEPARATE environment the CommonCrawl-chain benchmark runs datatrove in
# (benchmarks/.venv-datatrove, git-ignored). Nothing from datatrove is committed or imported by the
# project: benchmarks/datatrove_chain.py runs inside this venv as a subprocess.
#
# What datatrove's chain needs (checked in datatrove 0.10.1's source):
#   WarcReader        -> warcio, faust-cchardet, python-magic (WET "conversion" records are read by default)
#   LanguageFilter    -> fasttext-numpy2-wheel (the distribution name datatrove checks) and the local lid.176.ftz (see
#                        datatrove_chain.py: no download)
#   GopherQualityFilter / GopherRepetitionFilter -> datatrove's word tokenizer: for English it is
#                        SpaCy's blank "en" tokenizer (no model download), not nltk punkt
#   ParquetWriter     -> pyarrow
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${DATATROVE_VENV:-$HERE/.venv-datatrove}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" uninstall --quiet -y fasttext-numpy2 2>/dev/null || true
# datatrove[processing] + [io] as listed in its metadata. fastText: datatrove checks for the distribution
# `fasttext-numpy2-wheel` by name (its LanguageFilter refuses fasttext-numpy2), so this venv gets that one
# (the project's .venv keeps fasttext-numpy2; this venv is separate).
"$VENV/bin/pip" install --quiet 'datatrove==0.10.1' 'fasttext-numpy2-wheel' 'spacy' \
    'nltk' 'inscriptis' 'tldextract' 'trafilatura>=1.8.0,<1.12.0' 'tokenizers' 'ftfy' 'fasteners' 'regex' 'xxhash<4' \
    'pyahocorasick' 'warcio' 'faust-cchardet' 'python-magic' 'pyarrow' 'orjson' 'zstandard' 'psutil'
"$VENV/bin/python" -c "import datatrove, warcio, fasttext, pyarrow, spacy, regex, xxhash; print('datatrove env ok:', datatrove.__file__)"
