"""Throughput (docs/s, one core) of each step of the perplexity and wikiref filters on the real samples.

    RAYON_NUM_THREADS=1 .venv/bin/python benchmarks/bench_perplexity_wikiref.py [samples_dir]

Steps: KenLM model training (Wikipedia), perplexity scoring (normalise + tokenize + KenLM), wikiref
classifier training, wikiref scoring. Scoring runs over the C4 + CommonCrawl sample documents,
repeated to a few thousand docs so the timing is not dominated by start-up.
"""
import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.filters.perplexity import PerplexityScorer  # noqa: E402
from corpus.filters.wikiref import WikirefScorer  # noqa: E402
from corpus.sources import c4  # noqa: E402
from corpus.storage import Layout  # noqa: E402
from quality_models import kenlm_model, wikiref  # noqa: E402
from tests.quality_models.test_kenlm_model import sample_docs, small_params  # noqa: E402
from tests.quality_models.test_wikiref import default_params, ingest_parts  # noqa: E402


def main(samples: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-ppl-")) / "data"
    layout = Layout(root)
    inputs = ingest_parts(str(samples), root)
    wiki_docs = sum(len(d) for d in sample_docs("wikipedia", str(samples)).values())
    t = time.monotonic()
    folder, manifest, _ = kenlm_model.train_models(inputs.wikipedia, layout.models, layout.work / "k", small_params())
    dt = time.monotonic() - t
    print(f"kenlm training: {wiki_docs} wiki docs in {dt:.1f}s = {wiki_docs / dt:.1f} docs/s "
          f"(held-out ppl {({k: v['heldout_perplexity'] for k, v in manifest['languages'].items()})})")
    web = [d["text"] for f in c4.discover_inputs(samples / "c4") for d in c4.read_documents(f, f.name)]
    web += [d["text"] for docs in sample_docs("commoncrawl", str(samples)).values() for d in docs]
    texts = (web * (2000 // len(web) + 1))[:2000]
    scorer = PerplexityScorer(folder)
    scorer.score(texts[:10], ["en"] * 10)  # load
    t = time.monotonic()
    scorer.score(texts, ["en"] * len(texts))
    dt = time.monotonic() - t
    print(f"perplexity scoring (en): {len(texts)} docs in {dt:.2f}s = {len(texts) / dt:.0f} docs/s")
    t = time.monotonic()
    wfolder, wm, _ = wikiref.train_classifier(inputs, layout.models, default_params())
    dt = time.monotonic() - t
    print(f"wikiref training (incl. reading + chunking all inputs): {dt:.1f}s, {wm['train_examples']} examples, "
          f"held-out AUC {wm['heldout_auc']}, balanced accuracy {wm['heldout_accuracy']}")
    ws = WikirefScorer(wfolder / "model.bin")
    ws.score(texts[:10])
    t = time.monotonic()
    ws.score(texts)
    dt = time.monotonic() - t
    print(f"wikiref scoring: {len(texts)} docs in {dt:.2f}s = {len(texts) / dt:.0f} docs/s")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "samples")
