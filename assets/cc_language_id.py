"""fastText language ID on CommonCrawl: other languages and low scores dropped (logic:
``corpus.filters.langid``, model: ``quality_models.language_identifier``)."""

import time
from pathlib import Path
from typing import Dict, Optional

import dagster as dg
import pydantic

from assets.config_base import ValidatedConfig, config_class, dataclass_fields, dataclass_from, listed
from assets.resources import CorpusStorage
from assets.stages import run_units, stage_metadata
from corpus.part_runners import code_fingerprint, filter_units
from corpus import part_runners
from corpus.inputs import sha256_file
from corpus.filters import langid as langid_filter
from quality_models import language_identifier
from quality_models.langid_assets import current_refiners

SOURCE = "commoncrawl"
UPSTREAM_STAGE = "line_dedup"


class LanguageIdModels(ValidatedConfig):
    """Which models the filter runs with (Dagster wiring: a user's file and a switch, no filter setting);
    ``LanguageIdConfig`` adds the filter's settings (``LangIdFilter``'s fields)."""

    model_path: Optional[str] = None  # default: $CORPUS_LID_MODEL or the venv's lid.176.ftz
    # second-stage bs/hr/sr and da/nb classifiers written by the langid_model asset (held-out accuracy
    # 0.947 vs 0.930 for lid.176 alone); off: lid.176 alone
    use_refiners: bool = True

    @pydantic.field_validator("min_score_per_language", check_fields=False)
    @classmethod
    def _scores_are_probabilities(cls, scores: Dict[str, float]) -> Dict[str, float]:
        if bad := {lang: v for lang, v in scores.items() if not 0 <= v <= 1}:
            raise ValueError(f"thresholds must be in [0, 1], got {bad}")
        return scores

    @pydantic.field_validator("model_path")
    @classmethod
    def _model_exists(cls, path: Optional[str]) -> Optional[str]:
        if path is not None and not Path(path).is_file():
            raise ValueError(f"fastText model not found: {path}")
        return path


FILTER_SETTINGS = ("keep_languages", "min_score", "min_score_per_language")
LanguageIdConfig = config_class(
    "LanguageIdConfig", __name__, listed(dataclass_fields(langid_filter.LangIdFilter, FILTER_SETTINGS)), LanguageIdModels,
    doc="The LangIdFilter's settings (defaults: corpus/recipe.py) and its models.",
    bounds={"keep_languages": dict(min_length=1), "min_score": dict(ge=0, le=1)})


@dg.asset(group_name="ccnet", deps=["cc_line_dedup", "langid_model"], kinds={"python", "fasttext", "parquet"})
def cc_language_id(context: dg.AssetExecutionContext, config: LanguageIdConfig, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """fastText language ID: documents of other languages or with a low top-1 score are dropped."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    model_path = Path(config.model_path) if config.model_path else language_identifier.default_model_path()
    refiners = current_refiners(layout) if config.use_refiners else None
    if config.use_refiners and refiners is None:
        context.log.warning("no bs/hr/sr and da/nb refiners (langid_model found no labelled sentences): "
                            "lid.176 alone decides")
    settings = dict(keep=sorted(config.keep_languages), min_score=config.min_score,
                    per_language=dict(sorted(config.min_score_per_language.items())),
                    model=sha256_file(model_path), refiners=refiners.name if refiners else None)

    def make_filter():
        return dataclass_from(langid_filter.LangIdFilter, config, source=SOURCE,
                              identifier=language_identifier.LanguageIdentifier(model_path, refiners))

    code = code_fingerprint(langid_filter, language_identifier, part_runners)
    units = filter_units(layout, langid_filter.STAGE, SOURCE, UPSTREAM_STAGE, settings, make_filter, code)
    stats = run_units(context, layout, langid_filter.STAGE, SOURCE, units)
    report = langid_filter.stage_report(stats, layout.work / langid_filter.STAGE / f"{SOURCE}_languages.png")
    return dg.MaterializeResult(metadata=stage_metadata(stats, started, **report, model_sha256=settings["model"]))
