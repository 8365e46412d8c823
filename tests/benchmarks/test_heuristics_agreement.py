"""Our Gopher, C4 and FineWeb filters against datatrove 0.10.1's on the samples' web and C4 documents:
keep/drop agreement >= 95% per family (Gopher's with datatrove's alpha-words rule on the paper's whitespace
words: as shipped it counts SpaCy's punctuation tokens, 72 pages apart), every disagreement explained by a
checked cause."""
from collections import Counter

import pytest

pytest.importorskip("datatrove")
pytest.importorskip("spacy")

from benchmarks import heuristics_agreement  # noqa: E402


@pytest.fixture(scope="module")
def agreement(samples_dir):
    return heuristics_agreement.run(samples_dir)


@pytest.mark.slow
def test_agreement_with_datatrove(agreement):
    results = agreement.families
    assert {f: r.docs for f, r in results.items()} == {f: 348 for f in heuristics_agreement.FAMILIES}
    assert {f: r.agree for f, r in results.items()} == {"gopher": 272, "gopher_paper_alpha_words": 341, "c4": 347,
                                                         "fineweb": 348}
    for family in ("gopher_paper_alpha_words", "c4", "fineweb"):
        assert results[family].rate >= 0.95, (family, results[family].causes())
    for family, r in results.items():
        assert "unexplained" not in r.causes(), (family, [d for d in r.disagreements if d[4] == "unexplained"])
    # Gopher as configured: the paper's whitespace words in the alpha-words rule are the one big difference
    # (datatrove drops 72 pages of prose whose commas and brackets it counts as words); the rest is < 5%
    gopher = results["gopher"]
    alpha = [d for d in gopher.disagreements if d[4].startswith("alpha words")]
    assert len(alpha) == 72 and all(d[2] is None and d[3] == "gopher_below_alpha_threshold" for d in alpha)
    assert len(gopher.disagreements) - len(alpha) <= 0.05 * gopher.docs
    # with datatrove's own alpha rule counting the paper's words, none of those 72 is left
    paper = results["gopher_paper_alpha_words"]
    assert Counter(d[4].split(":")[0] for d in paper.disagreements) == {"n-grams": 5, "words": 1, "stop words": 1}


@pytest.mark.slow
def test_each_gopher_rule_alone_agrees_but_the_alpha_words_rule(agreement):
    rules = agreement.gopher_rules
    assert list(rules) == [*heuristics_agreement.GOPHER_RULES, heuristics_agreement.PAPER_ALPHA_RULE]
    assert {r["docs"] for r in rules.values()} == {348}
    assert {rule: r["agree"] for rule, r in rules.items()} == {
        "word count": 346, "mean word length": 346, "symbol-to-word ratio": 346, "bullet lines": 348,
        "ellipsis lines": 348, "alpha words": 251, "stop words": 346, "duplicate paragraphs": 348,
        "duplicate paragraph chars": 348, "duplicate lines": 348, "duplicate line chars": 348, "top n-grams": 347,
        "duplicate n-grams": 331, heuristics_agreement.PAPER_ALPHA_RULE: 348}
    assert all(r["rate"] >= 0.95 for rule, r in rules.items() if rule != "alpha words"), rules
    # alpha words alone: datatrove drops 152 pages whose punctuation tokens it counts as words; ours (the paper's) 55
    assert (rules["alpha words"]["ours_drop"], rules["alpha words"]["datatrove_drop"]) == (55, 152)
    # datatrove's alpha rule on whitespace words drops exactly our 55
    paper = rules[heuristics_agreement.PAPER_ALPHA_RULE]
    assert (paper["ours_drop"], paper["datatrove_drop"]) == (55, 55)
    assert rules["duplicate lines"]["ours_drop"] == rules["duplicate lines"]["datatrove_drop"] == 22  # not vacuous
