"""The language-ID model as an asset: lid.176 located and validated (its sha256 is the data version),
the second-stage cluster refiners trained on the train half of the labelled sentences, and both
evaluated on the held-out half and on the labelled sets of other distributions
(``quality_models.langid_sets``), accuracy per language as metadata. Logic: ``quality_models.language_identifier``."""

from pathlib import Path
from typing import Optional

import dagster as dg

from assets.resources import CorpusStorage
from corpus.inputs import sha256_file
from quality_models import langid_sets, language_identifier


def current_refiners(layout) -> Optional[Path]:
    """The refiners folder the last ``langid_model`` run wrote, if any."""
    return language_identifier.current_refiners(layout.models)


class LangIdModelConfig(dg.Config):
    model_path: Optional[str] = None  # default: $CORPUS_LID_MODEL or the venv's lid.176.ftz
    labelled_tsv: Optional[str] = None  # default: $CORPUS_LANGID_LABELLED or ../shared/samples/langid/labelled.tsv
    train_refiners: bool = True


def _set_metadata(name: str, result: langid_sets.SetEvaluation) -> dict:
    """One labelled set's accuracies (the held-out half keeps its earlier keys, unprefixed)."""
    prefix = "" if name == "heldout" else f"{name}_"
    md = {f"{name}_sentences": result.sentences,
          f"{prefix}base_accuracy": dg.MetadataValue.float(round(result.base.accuracy, 4))}
    if result.refined:
        md[f"{prefix}accuracy"] = dg.MetadataValue.float(round(result.refined.accuracy, 4))
    md[f"{prefix}accuracy_per_language"] = dg.MetadataValue.md(
        language_identifier.comparison_markdown(result.base, result.refined))
    return md


@dg.asset(group_name="quality_models", kinds={"fasttext"})
def langid_model(context: dg.AssetExecutionContext, config: LangIdModelConfig, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """fastText lid.176 plus bs/hr/sr and da/nb refiners, evaluated on held-out and off-distribution labelled text."""
    model_path = Path(config.model_path) if config.model_path else language_identifier.default_model_path()
    base = language_identifier.LanguageIdentifier(model_path)  # raises if missing or not a fastText model
    sha = sha256_file(model_path)
    md = {"model_path": dg.MetadataValue.path(str(model_path)), "model_sha256": sha}
    labelled = Path(config.labelled_tsv) if config.labelled_tsv else language_identifier.default_labelled_path()
    if not labelled.exists() and not config.labelled_tsv:
        context.log.warning(f"no labelled sentences at {labelled}: lid.176 validated, not evaluated, no refiners")
        return dg.MaterializeResult(metadata=md, data_version=dg.DataVersion(sha))
    heldout = language_identifier.read_labelled(labelled, "heldout")
    refiners = language_identifier.publish_refiners(corpus_storage.layout().models, labelled) if config.train_refiners else None
    if refiners:
        md["refiners_dir"] = dg.MetadataValue.path(str(refiners))
    refined = language_identifier.LanguageIdentifier(model_path, refiners) if refiners else None
    for name, result in langid_sets.evaluate_sets(base, refined, heldout, context.log.warning).items():
        md.update(_set_metadata(name, result))
        context.log.info(result.summary(name))
    version = f"{sha[:32]}-{refiners.name}" if refiners else sha
    return dg.MaterializeResult(metadata=md, data_version=dg.DataVersion(version))
