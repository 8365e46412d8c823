"""The language-ID model as an asset: lid.176 located and validated (its sha256 is the data version),
the second-stage cluster refiners trained on the train half of the labelled sentences, and both
evaluated on the held-out half (accuracy per language as metadata). Logic: ``quality_models.langid``."""

import json
from pathlib import Path
from typing import Optional

import dagster as dg

from assets.resources import CorpusStorage
from corpus.inputs import sha256_file
from corpus.storage import fingerprint
from quality_models import langid

REFINERS_POINTER = "current.json"


def langid_models_dir(layout) -> Path:
    return layout.models / "langid"


def current_refiners(layout) -> Optional[Path]:
    """The refiners folder the last ``langid_model`` run wrote, if any."""
    pointer = langid_models_dir(layout) / REFINERS_POINTER
    if not pointer.exists():
        return None
    return Path(json.loads(pointer.read_text())["refiners_dir"])


class LangIdModelConfig(dg.Config):
    model_path: Optional[str] = None  # default: $CORPUS_LID_MODEL or the venv's lid.176.ftz
    labelled_tsv: Optional[str] = None  # default: $CORPUS_LANGID_LABELLED or ../shared/samples/langid/labelled.tsv
    train_refiners: bool = True


@dg.asset(group_name="quality_models", kinds={"fasttext"})
def langid_model(context: dg.AssetExecutionContext, config: LangIdModelConfig, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """fastText lid.176 plus bs/hr/sr and da/nb refiners, evaluated on held-out labelled sentences."""
    layout = corpus_storage.layout()
    model_path = Path(config.model_path) if config.model_path else langid.default_model_path()
    base = langid.LanguageIdentifier(model_path)  # raises if missing or not a fastText model
    sha = sha256_file(model_path)
    labelled = Path(config.labelled_tsv) if config.labelled_tsv else langid.default_labelled_path()
    if not labelled.exists() and not config.labelled_tsv:
        context.log.warning(f"no labelled sentences at {labelled}: lid.176 validated, not evaluated, no refiners")
        return dg.MaterializeResult(metadata={"model_path": dg.MetadataValue.path(str(model_path)), "model_sha256": sha},
                                    data_version=dg.DataVersion(sha))
    heldout = langid.read_labelled(labelled, "heldout")
    base_eval = langid.evaluate(base, heldout)
    md = {"model_path": dg.MetadataValue.path(str(model_path)), "model_sha256": sha,
          "heldout_sentences": len(heldout), "base_accuracy": dg.MetadataValue.float(round(base_eval.accuracy, 4))}
    refined_eval, version = None, sha
    if config.train_refiners:
        out = langid_models_dir(layout) / f"refiners-{fingerprint(sha256_file(labelled), langid.REFINER_PARAMS, [c.__dict__ for c in langid.CLUSTERS])[:16]}"
        if not (out / "clusters.json").exists():
            langid.train_refiners(langid.read_labelled(labelled, "train"), out)
        (langid_models_dir(layout) / REFINERS_POINTER).write_text(json.dumps({"refiners_dir": str(out), "base_sha256": sha}))
        refined_eval = langid.evaluate(langid.LanguageIdentifier(model_path, out), heldout)
        version = f"{sha[:32]}-{out.name}"
        md.update(refiners_dir=dg.MetadataValue.path(str(out)), accuracy=dg.MetadataValue.float(round(refined_eval.accuracy, 4)))
    rows = ["| language | sentences | lid.176 | + refiners |", "|---|---|---|---|"]
    for label, (_, total) in base_eval.per_language.items():
        refined = f"{refined_eval.language_accuracy(label):.3f}" if refined_eval else "-"
        rows.append(f"| {label} | {total} | {base_eval.language_accuracy(label):.3f} | {refined} |")
    md["accuracy_per_language"] = dg.MetadataValue.md("\n".join(rows))
    context.log.info(f"langid: lid.176 {base_eval.accuracy:.4f}" + (f", refined {refined_eval.accuracy:.4f}" if refined_eval else "") + " on held-out sentences")
    return dg.MaterializeResult(metadata=md, data_version=dg.DataVersion(version))
