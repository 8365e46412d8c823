"""Declarative automation of the corpus-wide tail: ``near_dedup`` -> ``curated_documents`` -> ``corpus_catalog`` -> ``mixture`` ->
``tokenizer`` -> ``token_shards`` are brought up to date after an upstream materialization (a near-dedup
rerun, a partial run from the UI), and wait while a blocking check of an upstream asset fails (a curated
corpus with duplicate ids is never tokenized). The sensor that evaluates them is off by default."""
import dagster as dg

# near dedup applied, llama3's semantic dedup after it (under llama1 those report skipped), then the curated
# corpus of the active recipe and what is built from it
AUTOMATED_ASSETS = ("near_dedup", "semantic_embedding_model", "semantic_duplicates", "semantic_dedup",
                    "curated_documents", "corpus_catalog", "mixture", "tokenizer", "token_shards")

# eager: a dependency updated (or the asset went missing) since the asset last ran, no dependency missing or
# in progress; and every blocking check of every dependency passed (or is requested in the same tick)
UP_TO_DATE_AFTER_UPSTREAM = (
    dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
).with_label("eager, upstream blocking checks passed")


def with_automation(assets: list) -> list:
    """The assets, those of ``AUTOMATED_ASSETS`` with ``UP_TO_DATE_AFTER_UPSTREAM``."""
    keys = {dg.AssetKey(name) for name in AUTOMATED_ASSETS}

    def automate(spec: dg.AssetSpec) -> dg.AssetSpec:
        return spec.replace_attributes(automation_condition=UP_TO_DATE_AFTER_UPSTREAM) if spec.key in keys else spec

    out = [a.map_asset_specs(automate) if isinstance(a, dg.AssetsDefinition) and keys & a.keys else a for a in assets]
    found = {k for a in out if isinstance(a, dg.AssetsDefinition) for k in a.keys if k in keys}
    if found != keys:
        raise ValueError(f"automated assets not defined: {sorted(k.to_user_string() for k in keys - found)}")
    return out


corpus_automation_sensor = dg.AutomationConditionSensorDefinition(
    "corpus_automation_sensor",
    target=dg.AssetSelection.assets(*AUTOMATED_ASSETS),
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Evaluates the automation conditions of near_dedup -> curated_documents -> ... -> token_shards.",
)
