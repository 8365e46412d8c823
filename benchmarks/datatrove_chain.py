"""The CommonCrawl chain in datatrove, the tool users would pick instead of ours. Runs INSIDE the separate
benchmark environment (benchmarks/.venv-datatrove, built by setup_datatrove_env.sh); imports nothing
from the project, so it can run there.

    benchmarks/.venv-datatrove/bin/python benchmarks/datatrove_chain.py IN_DIR OUT_DIR --lid-model lid.176.ftz

The chain, on one core (LocalPipelineExecutor, tasks=1, workers=1), as datatrove's docs compose it:

1. ``WarcReader`` (warcio; WET ``conversion`` records) -> ``SentenceDedupSignature``
2. ``SentenceFindDedups``
3. ``WarcReader`` -> CCNet's 300-char minimum (``LambdaFilter``, ours applies it at parse) ->
   ``SentenceDedupFilter`` -> ``LanguageFilter(en, 0.5)`` -> ``GopherRepetitionFilter`` ->
   ``GopherQualityFilter`` -> ``ParquetWriter`` (zstd, as ours)

Line dedup: datatrove has no CCNet line dedup; its closest equivalent is SentenceDedup with
``split_sentences=False, n_sentences=1`` (a span of one line). Differences from CCNet (ours): it keeps
the first copy of a duplicated line (CCNet removes every copy), it does not remove a line repeated
inside one document, and its normalisation is its own TextNormConfig. ``min_doc_words`` and
``min_num_sentences`` are set to 0 so it drops only emptied documents, like CCNet.

LID: ``LanguageFilter`` with the local lid.176.ftz loaded into its FT176LID (no download: the model
object is set before the first predict). datatrove asks fastText for all 176 labels (k=-1) per
document; that is its default and is kept.

Prints one JSON line: docs in/out, seconds per step, wall and CPU seconds, peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("input_dir")
    ap.add_argument("output_dir")
    ap.add_argument("--lid-model", required=True)
    ap.add_argument("--min-chars", type=int, default=300)
    ap.add_argument("--lang-threshold", type=float, default=0.5)
    ap.add_argument("--pin", action="store_true", help="pin to one core")
    args = ap.parse_args()
    if args.pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.sentence_dedup import (SentDedupConfig, SentenceDedupFilter,
                                                         SentenceDedupSignature, SentenceFindDedups)
    from datatrove.pipeline.filters import (GopherQualityFilter, GopherRepetitionFilter, LambdaFilter,
                                            LanguageFilter)
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils.lid import FT176LID
    from fasttext.FastText import _FastText

    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="dt-work-", dir=args.output_dir))
    cfg = SentDedupConfig(n_sentences=1, split_sentences=False, min_doc_words=0, min_num_sentences=0)

    def reader():
        return WarcReader(args.input_dir, glob_pattern="*.warc.wet.gz")

    class LocalFT176(FT176LID):
        """datatrove's lid.176 wrapper, loading the local model file instead of downloading it."""

        @property
        def model(self):
            if self._model is None:
                self._model = _FastText(args.lid_model)
            return self._model

    language = LanguageFilter(languages=["en"], language_threshold=args.lang_threshold)
    language.model = LocalFT176(["en"])  # the same local model file as ours, no download

    stats = {}
    cpu0 = os.times()
    t0 = time.perf_counter()

    def run(name, pipeline):
        t = time.perf_counter()
        LocalPipelineExecutor(pipeline=pipeline, tasks=1, workers=1, logging_dir=str(work / "logs" / name),
                              skip_completed=False).run()
        stats[name] = time.perf_counter() - t

    run("signatures", [reader(), SentenceDedupSignature(output_folder=str(work / "sigs"), config=cfg)])
    run("find_dups", [SentenceFindDedups(data_folder=str(work / "sigs"), output_folder=str(work / "dups"), config=cfg)])
    out_dir = Path(args.output_dir) / "datatrove_out"
    run("filter_write", [
        reader(),
        LambdaFilter(lambda doc: len(doc.text.strip()) >= args.min_chars),
        SentenceDedupFilter(data_folder=str(work / "dups"), config=cfg),
        language,
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        ParquetWriter(str(out_dir), compression="zstd"),
    ])
    wall = time.perf_counter() - t0
    cpu1 = os.times()
    import pyarrow.parquet as pq

    files = sorted(out_dir.rglob("*.parquet"))
    docs_out = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    ids = []
    for f in files:
        ids += pq.read_table(f, columns=["id"]).column("id").to_pylist()
    (Path(args.output_dir) / "datatrove_kept_ids.json").write_text(json.dumps(ids))
    # datatrove's own per-step timings (logs/<stage>/stats.json), ASCII names
    step_time = {}
    for sfile in (work / "logs").glob("*/stats.json"):
        for step in json.loads(sfile.read_text()):
            name = sfile.parent.name + ":" + step["name"].encode("ascii", "ignore").decode().replace("-", "").strip()
            step_time[" ".join(name.split())] = round(step.get("time_stats", {}).get("total", 0.0), 3)
    docs_in = None
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(json.dumps({
        "tool": "datatrove", "docs_in": docs_in, "docs_out": docs_out, "wall_s": wall,
        "cpu_s": (cpu1.user + cpu1.system + cpu1.children_user + cpu1.children_system)
        - (cpu0.user + cpu0.system + cpu0.children_user + cpu0.children_system),
        "steps_s": stats, "datatrove_step_time_s": step_time, "peak_rss_mb": peak / 1024.0,
    }))


if __name__ == "__main__":
    sys.exit(main())
