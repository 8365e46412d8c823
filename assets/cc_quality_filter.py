"""Wikipedia-reference quality classifier (LLaMA-1)."""
from assets.cc_passthrough import passthrough_stage

cc_quality_filter = passthrough_stage("cc_quality_filter", "wikiref", "cc_perplexity", "perplexity", "Wikipedia-reference quality classifier (LLaMA-1).")
