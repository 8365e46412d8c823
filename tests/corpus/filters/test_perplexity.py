"""CCNet perplexity: normalisation, document perplexity, buckets, and what the models say about real text."""
import re
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from tokenizers import Tokenizer, models as tok_models, pre_tokenizers

from corpus import recipe
from corpus.filters import perplexity as ppl
from corpus.schema import DOCUMENT_SCHEMA, new_document
from corpus.sources import c4
from quality_models.kenlm_model import is_heldout
from tests.quality_models.test_kenlm_model import sample_docs, trained_models

TLD_LANG = {".ch": "de", ".ru": "ru", ".nl": "nl"}  # the CC sample's pages, as its PROVENANCE lists them


@pytest.fixture(scope="session")
def models(samples_dir, tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "kenlm_shared" / "data"
    folder, manifest = trained_models(str(samples_dir), str(root))
    return ppl.PerplexityScorer(folder), manifest


def heldout_wiki_paragraphs(samples_dir: Path, lang: str, min_words: int = 10) -> list[str]:
    """Wikipedia paragraphs the model never saw: the lines ``train_models`` held out."""
    out = []
    for docs in sample_docs("wikipedia", str(samples_dir)).values():
        for doc in docs:
            if doc["lang"] != lang:
                continue
            for i, line in enumerate(ppl.normalized_lines(doc["text"])):
                if is_heldout(f"{doc['id']}:{i}", recipe.KENLM_HOLDOUT_FRACTION) and len(line.split()) >= min_words:
                    out.append(line)
    return out


def test_normalisation_is_ccnets():
    assert ppl.normalize_line("  Café １２３ — «Hi»！\t") == 'cafe 000  -  "hi"!'
    assert ppl.normalize_line("Ünïcödé  Straße 1999") == "unicode  straße 0000"
    assert ppl.normalize_line("x\x00y\x9fz") == "xyz"
    assert ppl.normalized_lines("A\n\n  \nB2") == ["a", "b0"]


def ccnet_normalize(line: str) -> str:
    """cc_net/text_normalizer.py ``normalize`` step by step (the oracle of the one-table version)."""
    line = line.strip().lower()
    line = "".join(c for c in unicodedata.normalize("NFD", line) if unicodedata.category(c) != "Mn")
    line = re.sub(r"\d", "0", line).translate(str.maketrans(ppl.UNICODE_PUNCT))
    return re.sub("[\x00-\x1f\x7f-\x9f]", "", line)


def real_lines(samples_dir: Path) -> list[str]:
    """Raw lines of the real Wikipedia (en, de, fr, ...) and CommonCrawl samples."""
    docs = [d for source in ("wikipedia", "commoncrawl") for ds in sample_docs(source, str(samples_dir)).values() for d in ds]
    return [line for d in docs for line in d["text"].split("\n")]


def test_one_table_normalisation_equals_ccnets_chain_on_real_text(samples_dir):
    lines = real_lines(samples_dir)
    assert len(lines) > 10_000 and any(not line.isascii() for line in lines)
    assert [ppl.normalize_line(line) for line in lines] == [ccnet_normalize(line) for line in lines]


def test_tokenize_equals_the_tokenizers_encode(models, samples_dir):
    """The word-by-word tokenization gives the pieces ``Tokenizer.encode`` gives, on real lines of every
    language and on the Metaspace corner cases: a leading space ("—" -> " - "), runs of spaces, "▁"."""
    scorer, _ = models
    edge = [ppl.normalize_line("— Hello"), "a  b   c ", " ", "x▁y ▁z", "▁", "ünknown ☃ chars \xa0 0000"]
    for lang, lm in scorer.models.items():
        lines = edge + [n for n in map(ppl.normalize_line, real_lines(samples_dir)[:5000]) if n]
        want = [" ".join(e.tokens) for e in lm.tokenizer.encode_batch(lines, add_special_tokens=False)]
        assert lm.tokenize(lines) == want, lang


def test_line_length_counts_the_pieces_kenlm_scores(models):
    """A piece may hold a no-break space (the BPE has no normaliser): ``str.split`` would cut it there,
    KenLM does not; the length is pieces + 1."""
    lm = models[0].models["en"]
    tokenized = lm.tokenize(["the year\xa0\xa0000 in \u2009 review"])
    assert lm.line_scores(tokenized)[1].tolist() == [len(tokenized[0].split(" ")) + 1]
    assert len(tokenized[0].split(" ")) != len(tokenized[0].split())


def test_a_tokenizer_not_split_by_metaspace_is_refused(tmp_path):
    tok = Tokenizer(tok_models.BPE(unk_token="?"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tok.json"))
    with pytest.raises(ValueError, match="Metaspace"):
        ppl.LanguageModel(tmp_path / "tok.json", tmp_path / "none.bin").tokenize(["a b"])


def test_document_perplexity_is_ccnets_formula(models):
    scorer, _ = models
    lm = scorer.models["en"]
    text = "The city is the capital of the country.\nIt has a population of 3,000."
    lines = ppl.normalized_lines(text)
    logs, lengths = lm.line_scores(lm.tokenize(lines))
    expected = 10 ** (-logs.sum() / lengths.sum())
    assert lengths.tolist() == [len(t.split()) + 1 for t in lm.tokenize(lines)]
    assert lm.perplexities([text, "", text])[0] == pytest.approx(expected)
    assert np.isinf(lm.perplexities([""])[0])
    assert np.isnan(scorer.score([text], ["xx"])[0])  # no model for the language


def test_heldout_wikipedia_prose_scores_lower_than_real_web_pages(models, samples_dir):
    """English: Wikipedia paragraphs held out of training vs the 30 real C4 web pages (English,
    CommonCrawl after C4's rules, so clean text: a fair same-language comparison)."""
    scorer, _ = models
    wiki = heldout_wiki_paragraphs(samples_dir, "en")
    web = [d["text"] for f in c4.discover_inputs(samples_dir / "c4") for d in c4.read_documents(f, f.name)]
    assert len(wiki) > 100 and len(web) == 30
    wiki_ppl, web_ppl = scorer.models["en"].perplexities(wiki), scorer.models["en"].perplexities(web)
    assert np.median(wiki_ppl) < 0.75 * np.median(web_ppl)
    assert np.mean(wiki_ppl < np.median(web_ppl)) > 0.7


def test_german_wikipedia_scores_lower_than_navigation_lines_of_a_real_cc_page(models, samples_dir):
    """German: held-out dewiki paragraphs vs the short navigation/boilerplate lines of the real
    German (.ch) pages of the CommonCrawl WARC sample, both scored by the German model."""
    scorer, manifest = models
    assert "de" in manifest["languages"], "the dewiki sample must give a German model (reader sets lang=de)"
    wiki = heldout_wiki_paragraphs(samples_dir, "de", min_words=5)
    pages = [d for docs in sample_docs("commoncrawl", str(samples_dir)).values() for d in docs
             if (d["url"] or "").split("/")[2].endswith(".ch")]
    nav = [line for d in pages for line in d["text"].split("\n") if 1 <= len(line.split()) <= 4]
    assert len(wiki) >= 10 and len(nav) >= 20
    assert np.median(scorer.models["de"].perplexities(wiki)) < np.median(scorer.models["de"].perplexities(nav))


def _batch(ids, langs, texts=None):
    docs = [new_document("commoncrawl", i, texts[k] if texts else "x", lang=lang) for k, (i, lang) in enumerate(zip(ids, langs))]
    return pa.RecordBatch.from_pylist(docs, schema=DOCUMENT_SCHEMA)


def test_cutoffs_buckets_and_drop_reasons():
    scores = pa.table({"id": [f"d{i}" for i in range(11)] + ["z"], "lang": ["en"] * 11 + ["zz"],
                       "perplexity": [float(x) for x in range(100, 1200, 100)] + [float("nan")]},
                      schema=ppl.SCORES_SCHEMA)
    cut, _ = ppl.percentile_cutoffs(scores, recipe.PERPLEXITY_PERCENTILES)
    assert cut == {"en": (400.0, 700.0)}  # linear percentiles of 100..1100
    ccnet, origin = ppl.choose_cutoffs(scores, "ccnet", recipe.PERPLEXITY_PERCENTILES, recipe.CCNET_PERPLEXITY_CUTOFFS)
    assert ccnet["en"] == (340.0, 520.0) and origin == {"en": "ccnet"}
    # percentiles of 11 documents are noise: with a 100-document floor, CCNet's published values are used
    small, origin = ppl.choose_cutoffs(scores, "percentile", recipe.PERPLEXITY_PERCENTILES,
                                       recipe.CCNET_PERPLEXITY_CUTOFFS, min_docs=100)
    assert small["en"] == (340.0, 520.0) and origin == {"en": "ccnet_small_sample"}
    assert ppl.choose_cutoffs(scores, "percentile", recipe.PERPLEXITY_PERCENTILES,
                              recipe.CCNET_PERPLEXITY_CUTOFFS, min_docs=11)[1] == {"en": "percentile"}
    with pytest.raises(ValueError):
        ppl.choose_cutoffs(scores, "median", (30, 60), {})
    batch = _batch([new_document("commoncrawl", f"d{i}", "x")["id"] for i in range(11)] + ["?"], ["en"] * 11 + ["zz"])
    # ids of the batch are content-derived: rebuild the scores with them
    scores = scores.set_column(0, "id", batch.column("id"))
    kept, dropped = ppl.bucket_filter(scores, cut, recipe.PERPLEXITY_KEEP_BUCKETS, False, "commoncrawl")(batch)
    assert kept.column("bucket").to_pylist() == ["head"] * 3 + ["middle"] * 3 + [None]
    assert kept.column("perplexity").to_pylist()[:2] == [100.0, 200.0] and kept.column("perplexity")[-1].as_py() is None
    assert dropped.column("reason").to_pylist() == [ppl.DROP_TAIL] * 5
    assert dropped.column("detail")[0].as_py() == "lang=en perplexity=700.0"
    _, dropped2 = ppl.bucket_filter(scores, cut, recipe.PERPLEXITY_KEEP_BUCKETS, True, "commoncrawl")(batch)
    assert dropped2.column("reason").to_pylist() == [ppl.DROP_TAIL] * 5 + [ppl.NO_MODEL]
