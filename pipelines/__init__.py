"""The Dagster code location: ``dagster dev -m pipelines`` / ``dagster job execute -m pipelines -j build_corpus``."""
from pipelines.definitions import defs

__all__ = ["defs"]
