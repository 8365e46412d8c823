"""The language-ID model as an asset: lid.176 located and validated (its sha256 is the data version),
the second-stage cluster refiners trained on the train half of the labelled sentences, and both
evaluated on the held-out half and on the labelled sets of other distributions
(``quality_models.langid_sets``), accuracy per language as metadata. Logic: ``quality_models.language_identifier``."""

import os
from pathlib import Path
from typing import Optional

import dagster as dg

from assets.resources import CorpusStorage, RawInputs
from corpus.inputs import sha256_file
from quality_models import langid_sets, language_identifier


def current_refiners(layout) -> Optional[Path]:
    """The refiners folder the last ``langid_model`` run wrote, if any."""
    return language_identifier.current_refiners(layout.models)


class LangIdModelConfig(dg.Config):
    """Hand-written: user paths and a switch (Dagster wiring); the trainer takes no settings."""

    model_path: Optional[str] = None  # default: $CORPUS_LID_MODEL or the venv's lid.176.ftz
    # default: $CORPUS_LANGID_LABELLED, else <raw inputs folder>/langid/labelled.tsv (RawInputs.raw_dir)
    labelled_tsv: Optional[str] = None
    train_refiners: bool = True


def labelled_sentences(config: LangIdModelConfig, raw_inputs: RawInputs) -> tuple[Optional[Path], str]:
    """The labelled file and where it comes from: ``labelled_tsv``, else ``$CORPUS_LANGID_LABELLED`` (either
    missing fails the step), else ``<raw inputs folder>/langid/labelled.tsv`` (missing: (None, why))."""
    given = config.labelled_tsv or os.environ.get(language_identifier.LABELLED_ENV)
    if given:
        origin = "run config labelled_tsv" if config.labelled_tsv else f"${language_identifier.LABELLED_ENV}"
        if not Path(given).is_file():
            raise dg.Failure(description=f"labelled sentences not found: {given} ({origin})", allow_retries=False)
        return Path(given), origin
    raw_dir = raw_inputs.resolved_raw_dir()
    if raw_dir is None:
        return None, f"no raw inputs folder (RawInputs.raw_dir / $CORPUS_RAW_DIR) to hold {language_identifier.LABELLED_IN_RAW}"
    path = raw_dir / language_identifier.LABELLED_IN_RAW
    return (path, "raw inputs folder") if path.is_file() else (None, f"no labelled sentences at {path}")


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
def langid_model(context: dg.AssetExecutionContext, config: LangIdModelConfig, corpus_storage: CorpusStorage,
                 raw_inputs: RawInputs) -> dg.MaterializeResult:
    """fastText lid.176 plus bs/hr/sr and da/nb refiners, evaluated on held-out and off-distribution labelled text."""
    model_path = Path(config.model_path) if config.model_path else language_identifier.default_model_path()
    base = language_identifier.LanguageIdentifier(model_path)  # raises if missing or not a fastText model
    sha = sha256_file(model_path)
    md = {"model_path": dg.MetadataValue.path(str(model_path)), "model_sha256": sha}
    labelled, origin = labelled_sentences(config, raw_inputs)
    md["labelled_sentences"] = dg.MetadataValue.path(str(labelled)) if labelled else f"none: {origin}"
    if labelled is None:
        context.log.warning(f"{origin}: lid.176 validated, not evaluated, no refiners")
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
