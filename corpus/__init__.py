"""Pure processing for the LLaMA-1 data recipe: readers, cleaners, filters, dedup, mixture, tokenization.

Nothing in this package imports Dagster; the Dagster assets in ``assets/`` wire these functions to
config, partitions and metadata.
"""
