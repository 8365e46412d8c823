"""``sample_docs`` (the real samples as documents, for the model and filter tests) fails loudly when a
reader is broken, instead of handing those tests documents from somewhere else."""
import pytest

from corpus.schema import Drop
from corpus.sources import reader
from tests.quality_models.test_kenlm_model import sample_docs

READ_BY_THE_MODEL_TESTS = ("wikipedia", "commoncrawl", "books")


@pytest.mark.parametrize("source", READ_BY_THE_MODEL_TESTS)
def test_a_reader_that_yields_nothing_fails_loudly(source, samples_dir, monkeypatch):
    module = reader(source)
    monkeypatch.setattr(module, "read_documents", lambda path, name, **_: iter([Drop.at(source, name, "ingest", "broken", "")]))
    with pytest.raises(AssertionError, match=rf"the {source} reader yielded no document .*'broken'"):
        sample_docs.__wrapped__(source, str(samples_dir))


def test_a_placeholder_reader_is_not_replaced_by_a_stand_in(samples_dir, monkeypatch):
    def placeholder(path, name, **_):
        raise NotImplementedError("reader not written yet")

    monkeypatch.setattr(reader("wikipedia"), "read_documents", placeholder)
    with pytest.raises(NotImplementedError):
        sample_docs.__wrapped__("wikipedia", str(samples_dir))


@pytest.mark.parametrize("source", READ_BY_THE_MODEL_TESTS)
def test_the_documents_come_from_the_projects_reader(source, samples_dir):
    parts = sample_docs(source, str(samples_dir))
    docs = [d for ds in parts.values() for d in ds]
    assert docs and all(d["source"] == source and d["text"] for d in docs)
    assert len(parts) == len(reader(source).discover_inputs(samples_dir / source))  # one part per input
