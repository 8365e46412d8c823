"""The raw inputs as observable source assets, so lineage starts at them: one per source (``raw_<source>``:
the folder ``$CORPUS_RAW_DIR/<source>``, or that source's entries of the default manifest) and
``commoncrawl_snapshots`` (Common Crawl's published snapshots).

A raw folder's data version is the hash of its listing (paths, sizes, mtimes; the listing the
``raw_files_sensor`` watches); without ``CORPUS_RAW_DIR`` it is the hash of the manifest's pins (url, size,
sha256), which is what the downloads will hold. The ``raw_files_sensor`` reports these observations when
the folder changes; "Observe sources" in the UI (or ``dg launch --assets raw_c4``) reports them on demand.
The snapshot list is observed by the ``commoncrawl_snapshot_sensor`` from ``collinfo.json``, the only
place it comes from (an observation needs the network, so it is not an observe function here).
"""
from pathlib import Path
from typing import Iterable, Optional

import dagster as dg
from dagster._core.definitions.data_version import DATA_VERSION_TAG  # "dagster/data_version"

from assets.resources import RawInputs
from corpus import recipe, snapshots
from corpus.inputs import DEFAULT_MANIFEST, load_manifest
from corpus.fingerprints import fingerprint

RAW_GROUP = "raw"
COMMONCRAWL_SNAPSHOTS = dg.AssetKey("commoncrawl_snapshots")


def raw_asset_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(f"raw_{source}")


def observe_raw_source(source: str, raw_dir: Optional[Path], manifest: Path = DEFAULT_MANIFEST) -> dg.AssetObservation:
    """The observation of one source's raw input: its data version and what it holds."""
    if raw_dir is not None:
        entries = snapshots.folder_listing(raw_dir / source)
        version = snapshots.listing_hash(entries)
        md = {"files": len(entries), "bytes": sum(e.size for e in entries),
              "path": dg.MetadataValue.path(str(raw_dir / source))}
    else:
        pinned = [e for e in load_manifest(manifest) if e.source == source]
        version = fingerprint(*sorted((e.relpath, e.url, e.size, e.sha256) for e in pinned))
        md = {"files": len(pinned), "bytes": sum(e.size or 0 for e in pinned),
              "manifest": dg.MetadataValue.path(str(manifest))}
    return dg.AssetObservation(asset_key=raw_asset_key(source), metadata=md,
                               tags={DATA_VERSION_TAG: version})


def observe_raw_sources(raw_inputs: RawInputs, sources: Iterable[str] = recipe.SOURCES) -> list[dg.AssetObservation]:
    return [observe_raw_source(s, raw_inputs.resolved_raw_dir(), raw_inputs.resolved_manifest()) for s in sources]


def observe_snapshots(listed: Iterable[str]) -> dg.AssetObservation:
    """The observation of Common Crawl's snapshot list (``collinfo.json``'s ids)."""
    ids = sorted(set(listed))
    return dg.AssetObservation(asset_key=COMMONCRAWL_SNAPSHOTS, tags={DATA_VERSION_TAG: fingerprint(*ids)},
                               metadata={"snapshots": len(ids), "newest": ids[-1] if ids else ""})


def raw_source_asset(source: str) -> dg.AssetsDefinition:
    spec = dg.AssetSpec(raw_asset_key(source), group_name=RAW_GROUP, kinds={"folder"},
                        description=f"The raw {source} files: $CORPUS_RAW_DIR/{source}, or the default manifest's "
                                    f"{source} entries (observed without downloading).")

    # an AssetsDefinition (a plain observable_source_asset is a SourceAsset, which takes no code_version)
    @dg.multi_observable_source_asset(specs=[spec], name=f"observe_raw_{source}")
    def _observe(raw_inputs: RawInputs):
        [obs] = observe_raw_sources(raw_inputs, [source])
        yield dg.ObserveResult(asset_key=obs.asset_key, metadata=obs.metadata,
                               data_version=dg.DataVersion(obs.tags[DATA_VERSION_TAG]))

    return _observe


raw_source_assets = [raw_source_asset(s) for s in recipe.SOURCES]

commoncrawl_snapshots = dg.AssetSpec(
    COMMONCRAWL_SNAPSHOTS, group_name=RAW_GROUP, kinds={"commoncrawl"},
    description="Common Crawl's published snapshots (collinfo.json), observed by commoncrawl_snapshot_sensor.")
