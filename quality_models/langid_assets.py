"""The language-ID model as an asset: lid.176 located and validated (its sha256 is the data version),
the second-stage cluster refiners trained on the train half of the labelled sentences, and both
evaluated on the held-out half and on the labelled sets of other distributions
(``quality_models.langid_sets``), accuracy per language as metadata. Logic: ``quality_models.language_identifier``."""

from pathlib import Path
from typing import Optional

import dagster as dg

from assets.resources import CorpusStorage
from corpus.inputs import sha256_file
from corpus.fingerprints import fingerprint
from quality_models import langid_sets, language_identifier, store


def current_refiners(layout) -> Optional[Path]:
    """The refiners folder the last ``langid_model`` run wrote, if any."""
    return language_identifier.current_refiners(layout.models)


class LangIdModelConfig(dg.Config):
    model_path: Optional[str] = None  # default: $CORPUS_LID_MODEL or the venv's lid.176.ftz
    labelled_tsv: Optional[str] = None  # default: $CORPUS_LANGID_LABELLED or ../shared/samples/langid/labelled.tsv
    train_refiners: bool = True


@dg.asset(group_name="quality_models", kinds={"fasttext"})
def langid_model(context: dg.AssetExecutionContext, config: LangIdModelConfig, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """fastText lid.176 plus bs/hr/sr and da/nb refiners, evaluated on held-out and off-distribution labelled text."""
    layout = corpus_storage.layout()
    model_path = Path(config.model_path) if config.model_path else language_identifier.default_model_path()
    base = language_identifier.LanguageIdentifier(model_path)  # raises if missing or not a fastText model
    sha = sha256_file(model_path)
    labelled = Path(config.labelled_tsv) if config.labelled_tsv else language_identifier.default_labelled_path()
    if not labelled.exists() and not config.labelled_tsv:
        context.log.warning(f"no labelled sentences at {labelled}: lid.176 validated, not evaluated, no refiners")
        return dg.MaterializeResult(metadata={"model_path": dg.MetadataValue.path(str(model_path)), "model_sha256": sha},
                                    data_version=dg.DataVersion(sha))
    heldout = language_identifier.read_labelled(labelled, "heldout")
    refiners = None
    if config.train_refiners:
        version = f"refiners-{fingerprint(sha256_file(labelled), language_identifier.REFINER_PARAMS, [c.__dict__ for c in language_identifier.CLUSTERS])[:16]}"
        refiners, _ = store.publish(layout.models, language_identifier.NAME, version,
                                    lambda tmp: language_identifier.train_refiners(language_identifier.read_labelled(labelled, "train"), tmp),
                                    marker=language_identifier.REFINERS_MARKER)
        store.set_current(layout.models, language_identifier.NAME, version)
    refined = language_identifier.LanguageIdentifier(model_path, refiners) if refiners else None
    md = {"model_path": dg.MetadataValue.path(str(model_path)), "model_sha256": sha}
    if refiners:
        md["refiners_dir"] = dg.MetadataValue.path(str(refiners))
    sets = {"heldout": heldout}
    for name in langid_sets.SETS:
        try:
            sets[name] = langid_sets.rows_of(name)
        except FileNotFoundError as exc:
            context.log.warning(f"labelled set {name} not evaluated: {exc}")
    for name, rows in sets.items():
        base_eval = language_identifier.evaluate(base, rows)
        refined_eval = language_identifier.evaluate(refined, rows) if refined else None
        prefix = "" if name == "heldout" else f"{name}_"  # the held-out half keeps its earlier keys
        md[f"{name}_sentences"] = len(rows)
        md[f"{prefix}base_accuracy"] = dg.MetadataValue.float(round(base_eval.accuracy, 4))
        if refined_eval:
            md[f"{prefix}accuracy"] = dg.MetadataValue.float(round(refined_eval.accuracy, 4))
        md[f"{prefix}accuracy_per_language"] = dg.MetadataValue.md(_markdown(base_eval, refined_eval))
        context.log.info(f"langid on {name} ({len(rows)} sentences): lid.176 {base_eval.accuracy:.4f}"
                         + (f", refined {refined_eval.accuracy:.4f}" if refined_eval else ""))
    version = f"{sha[:32]}-{refiners.name}" if refiners else sha
    return dg.MaterializeResult(metadata=md, data_version=dg.DataVersion(version))


def _markdown(base_eval: language_identifier.Evaluation, refined_eval: Optional[language_identifier.Evaluation]) -> str:
    rows = ["| language | sentences | lid.176 | + refiners |", "|---|---|---|---|"]
    for label, (_, total) in base_eval.per_language.items():
        refined = f"{refined_eval.language_accuracy(label):.3f}" if refined_eval else "-"
        rows.append(f"| {label} | {total} | {base_eval.language_accuracy(label):.3f} | {refined} |")
    return "\n".join(rows)
