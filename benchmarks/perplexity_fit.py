"""How well the perplexity models fit the web pages they filter: the figures the perplexity tests pin.

    .venv/bin/python benchmarks/perplexity_fit.py [samples_dir]

Trains the project's models (Wikipedia, calibrated on the "reference" half of tests/web_pages.py's real
English pages) and builds a model in CCNet's release format served from a loopback URL, then prints, on the
"evaluation" half only: medians and pairwise AUCs of held-out Wikipedia paragraphs, C4 pages, all real pages
and boilerplate pages; the share of pages kept at input sizes 1, 30 and 3,000 (``cutoffs: auto``); and where
the web reference's cut-offs fall on the Wikipedia reference (recipe.PERPLEXITY_WIKI_REFERENCE_PERCENTILES).
"""
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from corpus import recipe  # noqa: E402
from corpus.filters import perplexity as ppl  # noqa: E402
from quality_models import kenlm_model  # noqa: E402
from tests import web_pages  # noqa: E402
from tests.corpus.filters.test_perplexity import auc, kept_share  # noqa: E402
from tests.httpserver import serve  # noqa: E402
from tests.quality_models.test_kenlm_model import ccnet_format_models, trained_models  # noqa: E402


def main(samples: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="perplexity-fit-"))
    folder, manifest = trained_models(str(samples), str(base / "trained" / "data"))
    with serve(ccnet_format_models(str(samples), str(base / "release"))) as (url, _):
        ccnet_folder, _, _ = kenlm_model.fetch_ccnet_models(url, ["en"], base / "ccnet")
    evaluation = web_pages.real_english_pages(samples, "evaluation")
    sets = {"held-out wikipedia": web_pages.heldout_wikipedia_paragraphs(samples),
            "c4": [p["text"] for p in evaluation if p["source"] == "c4"],
            "real pages": [p["text"] for p in evaluation],
            "boilerplate": [t for _, t in web_pages.boilerplate_pages(samples)]}
    pages = web_pages.english_pages(samples, 3000, split="evaluation")
    for name, scorer in (("trained", ppl.PerplexityScorer(folder)), ("ccnet-format", ppl.PerplexityScorer(ccnet_folder))):
        lm = scorer.models["en"]
        s = {k: lm.perplexities(v) for k, v in sets.items()}
        print(f"{name}: medians " + ", ".join(f"{k} {np.median(v):.1f} (n={len(v)})" for k, v in s.items()))
        print(f"{name}: AUC wiki<c4 {auc(s['held-out wikipedia'], s['c4']):.3f}, c4<boilerplate "
              f"{auc(s['c4'], s['boilerplate']):.3f}, real<boilerplate {auc(s['real pages'], s['boilerplate']):.3f}")
        scores = lm.perplexities(pages)
        for size in (1, 30, 3000):
            share, origins = kept_share(scorer, scores, size)
            print(f"{name}: kept {share:.3f} of {len(pages)} pages in runs of {size} (cut-offs from {sorted(origins)})")
        print(f"{name}: kept {kept_share(scorer, scores[:len(evaluation)], 1)[0]:.3f} of the {len(evaluation)} distinct "
              f"real pages one at a time, {kept_share(scorer, s['boilerplate'], 1)[0]:.3f} of the boilerplate pages")
    cal = manifest["languages"]["en"]["calibration"]
    at = [100 * np.mean(np.asarray(cal["wikipedia"]) < c) for c in np.percentile(cal["web"], recipe.PERPLEXITY_PERCENTILES)]
    print(f"web reference p30/p60 sit at Wikipedia-reference percentiles {at[0]:.1f}/{at[1]:.1f} "
          f"(recipe: {recipe.PERPLEXITY_WIKI_REFERENCE_PERCENTILES})")
    print("training seconds (tokenizer / total): " + ", ".join(
        f"{lang} {m['tokenizer_seconds']}/{m['seconds']}" for lang, m in manifest["languages"].items()))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "samples")
