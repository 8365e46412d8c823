"""Content filters applied between stages (perplexity, Wikipedia-reference classifier, ...)."""
