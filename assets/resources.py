"""Resources: the seam between the assets and where data lives (local here, elsewhere in production)."""

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import dagster as dg

from corpus import presets, snapshots, storage
from corpus.inputs import DEFAULT_MANIFEST, MANIFEST_ENV, HostUnreachable, part_name, source_root
from corpus.sources import reader

# Op pools: steps that each take a machine's memory or all its cores, so at most `concurrency: pools:
# default_limit` of a pool's steps run at once in an instance (dagster.yaml; one pool's own limit:
# `dagster instance concurrency set <pool> <n>`)
DUCKDB_POOL = "duckdb"  # DuckDB aggregations over the whole corpus (line dedup, exact dedup, the catalog, the CC index)
TRAINING_POOL = "training"  # PyTorch pretraining


class CorpusStorage(dg.ConfigurableResource):
    """Where everything is written, and by which recipe's stages. ``data_root`` defaults to
    ``$CORPUS_DATA_ROOT`` (``./data``): a local path or a URI (``s3://bucket/prefix``, ``gs://...``; see
    ``corpus.storage``). ``recipe`` (default ``$CORPUS_RECIPE``, else llama1) and, under llama3, the
    ``web_sources`` its web stages run on (default ``recipe.LLAMA3_WEB_SOURCES``) choose the stage chains
    (``corpus.presets``); run config: ``resources: corpus_storage: config: recipe: llama3``. One resource
    for both, so every asset and check of a run sees the same data root and the same chains."""

    data_root: Optional[str] = None
    recipe: Optional[str] = None
    web_sources: Optional[List[str]] = None

    def layout(self) -> storage.Layout:
        return storage.layout_for(self.data_root) if self.data_root else storage.Layout.from_env()

    def preset(self) -> presets.Preset:
        try:
            return presets.preset(self.recipe, self.web_sources)
        except ValueError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None


class RawInputs(dg.ConfigurableResource):
    """Where each source's raw files come from: ``raw_dir`` (default ``$CORPUS_RAW_DIR``), else a manifest of
    real public files (default ``$CORPUS_INPUTS_MANIFEST``, else a small slice of each real upstream),
    downloaded into the data root's cache."""

    raw_dir: Optional[str] = None
    manifest: Optional[str] = None
    # Common Crawl's data host (``https://<host>/crawl-data/<path>``): a file partition of commoncrawl_documents
    # not yet under the source root is downloaded from it, and the snapshot sensor reads wet.paths.gz there
    commoncrawl_data_url: Optional[str] = None

    def resolved_raw_dir(self) -> Optional[Path]:
        """``raw_dir``, else ``$CORPUS_RAW_DIR``; None: the inputs come from the manifest."""
        return Path(self.raw_dir).resolve() if self.raw_dir else storage.raw_dir()

    def resolved_manifest(self) -> Path:
        """``manifest``, else ``$CORPUS_INPUTS_MANIFEST``, else the default one (a slice of each real upstream)."""
        return Path(self.manifest or os.environ.get(MANIFEST_ENV) or DEFAULT_MANIFEST)

    def resolved_commoncrawl_data_url(self) -> str:
        """``commoncrawl_data_url``, else ``$CORPUS_CC_DATA_URL``, else Common Crawl's public host."""
        return self.commoncrawl_data_url or os.environ.get("CORPUS_CC_DATA_URL") or snapshots.DATA_URL

    def source_root(self, source: str, layout: storage.Layout) -> Path:
        return source_root(source, self.resolved_raw_dir(), layout.raw_cache, self.resolved_manifest())

    def units(self, source: str, layout: storage.Layout, **discovery: object) -> list[tuple[str, Path]]:
        """(part name, path) of every input unit of a source, sorted; empty when its folder is missing."""
        root = self.source_root(source, layout)
        return [(part_name(root, p), p) for p in reader(source).discover_inputs(root, **discovery)]


@contextmanager
def unreachable_host_fails_the_step() -> Iterator[None]:
    """Around a step that downloads (or as its decorator): an unreachable host fails it at once, in the one
    line that says how to run on local files, without the step's retry policy (offline, a retry only
    repeats the failure)."""
    try:
        yield
    except HostUnreachable as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None

