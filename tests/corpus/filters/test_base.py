"""The filter base: a judgement becomes the kept batch, exact dropped rows and the annotated columns."""
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from corpus.filters.base import DocumentFilter, Judgement
from corpus.schema import DOCUMENT_SCHEMA, batches, new_document


@dataclass
class ShortFilter(DocumentFilter):
    """Drops texts under ``min_chars`` and writes each text's length into ``wikiref_score``."""

    source: str
    min_chars: int = 10
    stage: str = "short"

    def judge(self, batch: pa.RecordBatch) -> Judgement:
        lengths = pc.utf8_length(batch.column("text")).to_numpy()
        return Judgement(keep=lengths >= self.min_chars, reasons="too_short",
                         details=[f"chars={n}" for n in lengths],
                         columns={"wikiref_score": pa.array(lengths, pa.float32())})


def _batch(texts):
    return next(batches(new_document("c4", f"p:{i}", t) for i, t in enumerate(texts)))


def test_judgement_becomes_kept_rows_drops_and_annotations():
    batch = _batch(["a long enough text", "tiny", "another long text", "no"])
    kept, dropped = ShortFilter("c4")(batch)
    assert kept.schema == DOCUMENT_SCHEMA
    assert kept.column("text").to_pylist() == ["a long enough text", "another long text"]
    assert kept.column("wikiref_score").to_pylist() == [18.0, 17.0]
    ids = batch.column("id").to_pylist()
    assert dropped.to_pylist() == [
        {"id": ids[1], "source": "c4", "stage": "short", "reason": "too_short", "detail": "chars=4"},
        {"id": ids[3], "source": "c4", "stage": "short", "reason": "too_short", "detail": "chars=2"},
    ]


def test_per_row_reasons_are_read_only_where_dropped():
    class Parity(ShortFilter):
        def judge(self, batch):
            keep = np.arange(batch.num_rows) % 2 == 0
            return Judgement(keep=keep, reasons=np.array([None, "odd", None, "odd"], object))

    kept, dropped = Parity("c4")(_batch(["w", "x", "y", "z"]))
    assert kept.column("text").to_pylist() == ["w", "y"]
    assert dropped.column("reason").to_pylist() == ["odd", "odd"]
    assert dropped.column("detail").to_pylist() == [None, None]


def test_a_mask_of_the_wrong_length_is_an_error():
    class Broken(ShortFilter):
        def judge(self, batch):
            return Judgement(keep=np.ones(batch.num_rows + 1, bool), reasons="x")

    with pytest.raises(ValueError, match="keep mask has 3 rows, the batch 2"):
        Broken("c4")(_batch(["a", "b"]))
