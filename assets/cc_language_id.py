"""fastText language ID: other languages and low scores dropped."""
from assets.cc_passthrough import passthrough_stage

cc_language_id = passthrough_stage("cc_language_id", "langid", "cc_line_dedup", "line_dedup", "fastText language ID: other languages and low scores dropped.")
