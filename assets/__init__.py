"""Dagster assets: thin wrappers that wire config, resources and metadata around ``corpus``."""
