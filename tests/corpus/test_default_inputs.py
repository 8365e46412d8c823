"""The default inputs are a slice of each real upstream (corpus/default_inputs.json). A loopback server laid out
like the upstream hosts (``<host>/<path>``, reached through CORPUS_INPUTS_MIRROR) serves real-format files made
from ../shared/samples; every entry is downloaded, recorded on first download (the entries are unpinned),
verified on later use, and ingested by the seven ingest assets of build_corpus.

The files under the upstream names are samples of the same format, not the upstream files themselves (the
test cannot reach them): e.g. the slwiki dump is a real dump of another language under slwiki's name."""
import gzip
import json
import shutil
import tarfile
from pathlib import Path

import dagster as dg
import py7zr
import pytest

from corpus import inputs, recipe
from corpus.inputs import DEFAULT_MANIFEST, DownloadError, fetch_entry, load_manifest, pin_path
from corpus.storage import Layout, read_table
from pipelines import defs
from tests.corpus.sources.test_github import installed_repo
from tests.httpserver import serve

ENTRIES = load_manifest(DEFAULT_MANIFEST)
# the fixture repositories behind the four GitHub entries: (dist, package, license file kept at the root)
REPOS = {"tomli": ("tomli", "tomli", None), "click": ("click", "click", "LICENSE.txt"),
         "requests": ("requests", "requests", None), "unidecode": ("Unidecode", "unidecode", None)}


def _tar(out: Path, folder: Path, top: str) -> None:
    with tarfile.open(out, "w:gz") as tar:
        tar.add(folder, arcname=top)


def _upstream_file(entry: inputs.ManifestEntry, samples: Path, work: Path) -> Path:
    """A file of the entry's format made from the samples."""
    name = Path(entry.relpath).name
    if entry.source == "commoncrawl":  # the sample is a real WET record of this very file
        return samples / "commoncrawl" / "cc-main-2024-22_whirlwind" / "whirlwind.warc.wet.gz"
    if entry.source == "c4":  # one shard: the samples' gzip members, concatenated
        out = work / name
        out.write_bytes(b"".join(p.read_bytes() for p in sorted((samples / "c4").glob("c4-sample.*.json.gz"))))
        return out
    if entry.source == "wikipedia":
        return samples / "wikipedia" / "dbpedia-minidumps" / "dewiki.xml.bz2"
    if entry.source == "books":
        books = sorted({p.name: p for p in (samples / "books").rglob("pg*.txt")}.values())
        return books[[e.relpath for e in ENTRIES if e.source == "books"].index(entry.relpath) % len(books)]
    if entry.source == "arxiv":  # an e-print source: a gzipped tar of the paper's folder
        papers = sorted(p for p in (samples / "arxiv").iterdir() if p.is_dir())
        paper = papers[[e.relpath for e in ENTRIES if e.source == "arxiv"].index(entry.relpath) % len(papers)]
        out = work / name
        _tar(out, paper, ".")
        return out
    if entry.source == "stackexchange":
        out = work / name
        with py7zr.SevenZipFile(out, "w") as archive:
            archive.write(samples / "stackexchange" / "coffee.stackexchange.com" / "Posts.xml", "Posts.xml")
        return out
    if entry.source == "github":  # GitHub's tag archive: one top folder <repo>-<tag>/
        repo = name.split("-")[0]
        dist, package, license_file = REPOS[repo]
        tree = installed_repo(work / "trees", repo, dist, package, license_at_root=license_file,
                              with_dist_info=license_file is None)
        out = work / name
        _tar(out, tree, name.removesuffix(".tar.gz"))
        return out
    raise AssertionError(entry.source)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory, samples_dir):
    """The loopback server: <host>/<path> of every default entry."""
    root, work = tmp_path_factory.mktemp("hosts"), tmp_path_factory.mktemp("made")
    for entry in ENTRIES:
        target = root / inputs.mirrored_path(entry.url)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(_upstream_file(entry, samples_dir, work), target)
    with serve(root) as (base, hits):
        yield base, root, hits


def test_the_default_manifest_is_one_slice_of_each_real_upstream():
    by_source = {s: [e for e in ENTRIES if e.source == s] for s in recipe.SOURCES}
    assert all(by_source.values()), {s: len(v) for s, v in by_source.items()}
    [cc] = by_source["commoncrawl"]
    assert cc.url == "https://data.commoncrawl.org/crawl-data/" + cc.relpath and cc.relpath.endswith(".warc.wet.gz")
    [c4] = by_source["c4"]
    assert c4.url.endswith("/allenai/c4/resolve/main/en/c4-train.00000-of-01024.json.gz")
    [wiki] = by_source["wikipedia"]
    lang = wiki.relpath.split("wiki-")[0]
    assert lang in recipe.WIKIPEDIA_LANGUAGES  # another language's dump would be dropped whole at ingest
    assert wiki.url == f"https://dumps.wikimedia.org/{lang}wiki/latest/{lang}wiki-latest-pages-articles.xml.bz2"
    assert all(e.url.startswith("https://www.gutenberg.org/cache/epub/") for e in by_source["books"])
    assert all(e.url.startswith("https://arxiv.org/e-print/") for e in by_source["arxiv"])
    [se] = by_source["stackexchange"]
    assert se.url.startswith("https://archive.org/download/stackexchange/") and se.relpath.endswith(".7z")
    assert sorted(e.license for e in by_source["github"]) == ["Apache-2.0", "BSD-3-Clause", "GPL-2.0-or-later", "MIT"]
    # nothing of the real upstream files could be read offline: every entry is recorded on first download
    assert all(e.size is None and e.sha256 is None for e in ENTRIES)


def test_an_unpinned_entry_is_recorded_on_first_download_and_verified_after(upstream, tmp_path, monkeypatch):
    base, root, hits = upstream
    monkeypatch.setenv(inputs.MIRROR_ENV, base)
    [c4] = [e for e in ENTRIES if e.source == "c4"]
    served = root / inputs.mirrored_path(c4.url)
    dest = fetch_entry(c4, tmp_path)
    record = json.loads(pin_path(c4, tmp_path).read_text())
    assert dest.read_bytes() == served.read_bytes()
    assert (record["url"], record["size"], record["sha256"]) == (c4.url, served.stat().st_size, inputs.sha256_file(served))
    n = len(hits)
    fetch_entry(c4, tmp_path)
    assert len(hits) == n  # cached and matching its record: nothing fetched

    # the upstream file changed: a fresh download no longer matches the first one, and says so
    dest.unlink()
    original = served.read_bytes()
    served.write_bytes(gzip.compress(b'{"text": "changed upstream", "url": "https://example.org/"}\n'))
    try:
        with pytest.raises(DownloadError, match=r"(got \d+ bytes|sha256 \w+ does not match).*recorded by its first download"):
            fetch_entry(c4, tmp_path)
    finally:
        served.write_bytes(original)
    assert not dest.exists()
    # a wrong byte of the right size is caught by the recorded sha256
    served.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    try:
        with pytest.raises(DownloadError, match="sha256"):
            fetch_entry(c4, tmp_path)
    finally:
        served.write_bytes(original)
    assert fetch_entry(c4, tmp_path).read_bytes() == original


@pytest.mark.slow
def test_build_corpus_ingests_every_default_entry_from_the_upstream_layout(upstream, tmp_path, monkeypatch):
    base, root, hits = upstream
    monkeypatch.delenv("CORPUS_RAW_DIR", raising=False)
    monkeypatch.delenv(inputs.MANIFEST_ENV, raising=False)
    monkeypatch.setenv(inputs.MIRROR_ENV, base)
    monkeypatch.setenv("CORPUS_DATA_ROOT", str(tmp_path / "data"))
    ingest = [dg.AssetKey(f"{s}_documents") for s in recipe.SOURCES]
    result = defs.resolve_job_def("build_corpus").execute_in_process(asset_selection=ingest)
    assert result.success
    layout = Layout(tmp_path / "data")
    fetched = {rel for rel, _ in hits}
    for entry in ENTRIES:  # every entry came from its upstream path and was recorded
        assert inputs.mirrored_path(entry.url) in fetched, entry.url
        assert (layout.raw_cache / entry.source / entry.relpath).read_bytes() == (root / inputs.mirrored_path(entry.url)).read_bytes()
        assert pin_path(entry, layout.raw_cache).is_file()
    docs = {s: sum(read_table(p).num_rows for p in layout.parts("docs", "ingest", s)) for s in recipe.SOURCES}
    assert all(n > 0 for n in docs.values()), docs
    assert docs["books"] == 3 and docs["stackexchange"] > 10
    github_parts = {p.name.removesuffix(".parquet") for p in layout.docs_parts("ingest", "github")}
    assert github_parts == {"tomli-2.0.1.tar.gz", "click-8.1.7.tar.gz", "requests-2.32.3.tar.gz", "unidecode-1.3.8.tar.gz"}
    drops = [r for p in layout.parts("dropped", "ingest", "github") for r in read_table(p).to_pylist()]
    assert [r["reason"] for r in drops if r["reason"].startswith("license:")] == ["license:GPL-2.0"], drops
    # the same run again: everything cached and verified against its record, nothing fetched
    n = len(hits)
    assert defs.resolve_job_def("build_corpus").execute_in_process(asset_selection=ingest).success
    assert len(hits) == n
