"""The model store: atomic version folders, a relative current pointer, clear errors."""
import json

import pytest

from quality_models import store


def _build(tmp):
    (tmp / "model.bin").write_bytes(b"weights")
    (tmp / "manifest.json").write_text("{}")


def test_publish_renames_a_complete_folder_and_reuses_it(tmp_path):
    folder, reused = store.publish(tmp_path, "perplexity", "v1", _build)
    assert (folder, reused) == (tmp_path / "perplexity" / "v1", False)
    assert (folder / "model.bin").read_bytes() == b"weights"
    again, reused = store.publish(tmp_path, "perplexity", "v1", lambda tmp: pytest.fail("rebuilt a complete model"))
    assert (again, reused) == (folder, True)


def test_a_failed_or_unmarked_build_leaves_no_folder(tmp_path):
    def crash(tmp):
        (tmp / "half.bin").write_bytes(b"x")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.publish(tmp_path, "wikiref", "v1", crash)
    with pytest.raises(RuntimeError, match="wrote no manifest.json"):
        store.publish(tmp_path, "wikiref", "v1", lambda tmp: (tmp / "model.bin").write_bytes(b"x"))
    assert list((tmp_path / "wikiref").iterdir()) == []


def test_current_pointer_is_relative_and_checked(tmp_path):
    with pytest.raises(FileNotFoundError, match="materialize its quality_models asset first"):
        store.current_dir(tmp_path, "wikiref")
    store.publish(tmp_path, "wikiref", "v2", _build)
    store.set_current(tmp_path, "wikiref", "v2")
    assert json.loads((tmp_path / "wikiref" / "current.json").read_text()) == {"version": "v2"}
    assert store.current_dir(tmp_path, "wikiref") == tmp_path / "wikiref" / "v2"
    moved = tmp_path.parent / (tmp_path.name + "-moved")
    tmp_path.rename(moved)  # a data root moved or mounted elsewhere keeps its pointers
    assert store.current_dir(moved, "wikiref") == moved / "wikiref" / "v2"
    with pytest.raises(ValueError, match="not a path"):
        store.set_current(moved, "wikiref", "/abs/v2")
    store.set_current(moved, "wikiref", "v3")
    with pytest.raises(FileNotFoundError, match="which has no manifest.json"):
        store.current_dir(moved, "wikiref")
