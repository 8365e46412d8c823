"""Pretraining a small LLaMA-style model on the token shards."""
