"""Dagster assets of this package."""
