"""Mixture, tokenizer and token shards: the end of the corpus pipeline."""
