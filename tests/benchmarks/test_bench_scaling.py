"""The scaling benchmark's copies of Wikipedia dumps and arXiv papers are new documents of the same
kind: the readers give as many documents as from the originals, with new ids, and none of the texts
is an exact copy (exact dedup at ingest would otherwise shrink the 10x corpus back)."""
import json

import numpy as np

from benchmarks import bench_scaling
from corpus.schema import Drop
from corpus.sources import arxiv, wikipedia


PAGES = 13  # articles in the nine dbpedia minidumps


def _docs(module, path, name):
    records = list(module.read_documents(path, name))
    assert not [r for r in records if isinstance(r, Drop)]
    return records


def test_a_wikipedia_copy_has_every_page_with_new_ids_titles_and_text(samples_dir, tmp_path):
    rng = np.random.default_rng(0)
    dumps = sorted((samples_dir / "wikipedia" / "dbpedia-minidumps").glob("*wiki.xml.bz2"))
    assert len(dumps) == 9
    pages = 0
    for src in dumps:
        out = tmp_path / "copy03" / src.name
        bench_scaling._copy_wiki_dump(src, out, 3, rng)
        original, copy = _docs(wikipedia, src, src.name), _docs(wikipedia, out, f"copy03/{src.name}")
        assert len(copy) == len(original) >= 1
        pages += len(copy)
        dump = src.name
        for a, b in zip(original, copy):
            assert b["lang"] == a["lang"] == dump[:2]
            meta_a, meta_b = json.loads(a["meta"]), json.loads(b["meta"])
            assert int(meta_b["page_id"]) == int(meta_a["page_id"]) + 3 * bench_scaling._WIKI_ID_STEP
            assert meta_b["title"] == f"{meta_a['title']} (copy 3)"
            assert b["text"] != a["text"]
            assert 0.8 < len(b["text"]) / len(a["text"]) < 1.25  # a near copy, not a different page
    assert pages == PAGES


def test_an_arxiv_copy_is_a_new_paper_with_perturbed_prose(samples_dir, tmp_path):
    rng = np.random.default_rng(0)
    papers = sorted(p for p in (samples_dir / "arxiv").iterdir() if p.is_dir())
    assert len(papers) == 3
    for paper in papers:
        out = tmp_path / f"{paper.name}-copy01"
        bench_scaling._copy_paper(paper, out, 1, rng)
        (a,), (b,) = _docs(arxiv, paper, paper.name), _docs(arxiv, out, out.name)
        assert b["text"] != a["text"]
        assert 0.9 < len(b["text"]) / len(a["text"]) < 1.1
