"""docs/ARCHITECTURE.md's "How to add a filter" works as written: its code block, executed as is, is a filter
that drops the samples' short C4 pages with the exact reason and detail, and keeps the rest."""
import re
from pathlib import Path

from corpus.filters.base import DocumentFilter
from corpus.schema import batches
from corpus.sources import c4

DOC = Path(__file__).resolve().parents[3] / "docs" / "ARCHITECTURE.md"


def walkthrough_namespace() -> dict:
    section = DOC.read_text().split("#### How to add a filter", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    return namespace


def test_the_walkthrough_filter_runs_on_real_c4_pages(samples_dir):
    ns = walkthrough_namespace()
    min_words = ns["MinWordsFilter"]("c4")
    assert isinstance(min_words, DocumentFilter) and min_words.stage == "min_words"
    path = samples_dir / "c4" / "c4-sample.01.json.gz"
    docs = [d for d in c4.read_documents(path, path.name) if isinstance(d, dict)]
    kept_rows, dropped_rows = 0, []
    for batch in batches(docs):
        kept, dropped = min_words(batch)
        kept_rows += kept.num_rows
        dropped_rows += dropped.to_pylist()
    words = {d["id"]: len(d["text"].split()) for d in docs}
    short = sorted(i for i, n in words.items() if n < 50)
    assert (len(docs), len(short), kept_rows) == (10, 1, 9)
    assert sorted(r["id"] for r in dropped_rows) == short
    assert all(r["reason"] == "too_few_words" and r["detail"] == f"words={words[r['id']]} < 50" and r["stage"] == "min_words"
               for r in dropped_rows)
    strict = ns["MinWordsFilter"]("c4", ns["MinWordsRules"](min_words=10_000))
    assert next(batches(docs[:3])).num_rows == 3 and strict(next(batches(docs[:3])))[0].num_rows == 0
