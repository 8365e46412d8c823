"""KenLM perplexity per language: head/middle/tail buckets."""
from assets.cc_passthrough import passthrough_stage

cc_perplexity = passthrough_stage("cc_perplexity", "perplexity", "cc_language_id", "langid", "KenLM perplexity per language: head/middle/tail buckets.")
