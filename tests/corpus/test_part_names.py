"""Part names are injective: two different inputs never write the same part (nothing overwritten)."""
import random
import re
from pathlib import Path

import pytest

from corpus import snapshots
from corpus.inputs import explicit_input_units, part_name, path_key

KEY_SAFE = re.compile(r"^[A-Za-z0-9=][A-Za-z0-9._=-]*$")  # never "_" or "." first: Parquet folder readers skip those
TRICKY = ["a/b", "a__b", "a_/b", "a/_b", "a___b", "a/__b", "x y", "x_y", "x-y", "x.y", "_x", "x_", "_", "__",
          "a//b", "a/", "/a", "", ".", "a/./b", "é", "e\u0301", "x\udcff", "x:y", "x%20y", "x_20y", "_x_20y",
          "x%2fy", "x_2fy", "_a_5f_5fb", "a_5f_5fb", "=a_5f_5fb", ".hidden", "-x", "a/.b", "cc-main-2024-22_whirlwind/whirlwind.warc.wet.gz"]
ALPHABET = ["a", "b", "Z", "0", "_", "__", "/", "-", ".", " ", "%", ":", "é", "\udcff", "_5f", "_2f", "~", "="]


def _decode(name: str) -> str:
    """The inverse of path_key, written here from its documented rule (so the test proves it injective)."""
    if not name.startswith("="):
        return name.replace("__", "/")
    out, i = bytearray(), 1
    while i < len(name):
        if name[i] != "_":
            out.append(ord(name[i]))
            i += 1
        elif name[i + 1] == "_":
            out.append(ord("/"))
            i += 2
        else:
            out.append(int(name[i + 1:i + 3], 16))
            i += 3
    return out.decode("utf-8", "surrogateescape")


def _tricky_paths(n: int = 3000, seed: int = 14) -> set[str]:
    rng = random.Random(seed)
    return set(TRICKY) | {"".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8))) for _ in range(n)}


def test_path_key_is_injective_key_safe_and_maps_back():
    paths = _tricky_paths()
    names = {path_key(p): p for p in paths}
    assert len(names) == len(paths)  # no two paths share a name
    assert all(KEY_SAFE.match(n) for n in names)
    assert all(_decode(n) == p for n, p in names.items())


def test_part_name_is_injective_over_distinct_files(tmp_path):
    relpaths = {Path(p).as_posix() for p in _tricky_paths() if not p.startswith("/")} - {"."}
    names = {part_name(tmp_path, tmp_path / r) for r in relpaths}
    assert len(names) == len(relpaths)


def test_the_reported_collisions_are_apart_and_ordinary_paths_keep_their_readable_names():
    assert path_key("a/b") != path_key("a__b") and path_key("x y") != path_key("x_y")
    assert [path_key(p) for p in ("a/b", "x_y", "c4-sample.01.json.gz", "cc-main-2024-22_whirlwind/whirlwind.warc.gz")] == \
        ["a__b", "x_y", "c4-sample.01.json.gz", "cc-main-2024-22_whirlwind__whirlwind.warc.gz"]
    assert [path_key(p) for p in ("a__b", "x y", "DerikGreeff__SMS-Assignment/pg1342.txt")] == \
        ["=a_5f_5fb", "=x_20y", "=DerikGreeff_5f_5fSMS-Assignment__pg1342.txt"]
    # the Common Crawl partition keys are the same names, and still map back
    relpath = "CC-MAIN-2024-10/segments/1707947473347.0/wet/CC-MAIN-20240220211055-20240221001055-00000.warc.wet.gz"
    assert snapshots.partition_key(relpath) == path_key(relpath) == relpath.replace("/", "__")


def test_part_name_refuses_a_path_outside_the_root(tmp_path):
    assert part_name(tmp_path, tmp_path / "a" / "b.gz") == "a__b.gz"
    with pytest.raises(ValueError):
        part_name(tmp_path / "src", tmp_path / "elsewhere" / "b.gz")


def test_explicit_inputs_are_named_by_their_shortest_distinct_tail(tmp_path):
    paths = [tmp_path / p for p in ("a/part-0000.json.gz", "b/part-0000.json.gz", "c/only.json.gz",
                                    "x/a/part-0000.json.gz", "a b/p.gz", "a_b/p.gz")]
    units = explicit_input_units(paths + [tmp_path / "c" / ".." / "c" / "only.json.gz"])  # the same file twice
    names = [n for n, _ in units]
    assert len(set(names)) == len(names) == len(paths)
    assert dict((p, n) for n, p in units) == {
        tmp_path / "a/part-0000.json.gz": path_key(f"{tmp_path.name}/a/part-0000.json.gz"),
        tmp_path / "x/a/part-0000.json.gz": "x__a__part-0000.json.gz",
        tmp_path / "b/part-0000.json.gz": "b__part-0000.json.gz",
        tmp_path / "c/only.json.gz": "only.json.gz",
        tmp_path / "a b/p.gz": "=a_20b__p.gz",
        tmp_path / "a_b/p.gz": "a_b__p.gz",
    }
    assert explicit_input_units([Path("/p"), Path("/x/p")]) == [("=__p", Path("/p")), ("x__p", Path("/x/p"))]


def test_two_inputs_with_one_file_name_in_two_folders_are_two_parts_end_to_end(samples_dir, tmp_path):
    """The ingest asset with explicit ``inputs``: every document of both files is kept, in its own part."""
    import dagster as dg
    import pyarrow.parquet as pq

    from assets.resources import CorpusStorage, RawInputs
    from assets.sources import ingest_assets
    from corpus.sources import c4
    from corpus.storage import Layout

    files = {}
    for folder, sample in (("2019-04", "c4-sample.01.json.gz"), ("2019-05", "c4-sample.02.json.gz")):
        dest = tmp_path / "exports" / folder / "part-0000.json.gz"
        dest.parent.mkdir(parents=True)
        dest.write_bytes((samples_dir / "c4" / sample).read_bytes())
        files[dest] = [d["id"] for d in c4.read_documents(samples_dir / "c4" / sample, f"{folder}__part-0000.json.gz")]
    asset = next(a for a in ingest_assets if a.key.path[-1] == "c4_documents")
    config = {"ops": {"c4_documents": {"config": {"inputs": [str(p) for p in files]}}}}
    resources = {"corpus_storage": CorpusStorage(data_root=str(tmp_path / "data")), "raw_inputs": RawInputs()}
    for _ in range(2):  # a rerun finds both parts complete and keeps them
        assert dg.materialize([asset], resources=resources, run_config=config).success
        parts = Layout(tmp_path / "data").docs_parts("ingest", "c4")
        assert [p.name for p in parts] == ["2019-04__part-0000.json.gz.parquet", "2019-05__part-0000.json.gz.parquet"]
        assert [pq.read_table(p, columns=["id"]).column("id").to_pylist() for p in parts] == list(files.values())


def test_a_folder_of_parts_reads_whole_with_pyarrow(samples_dir, tmp_path):
    """pyarrow datasets (like Spark and Hive) skip files whose names start with "_" or ".": a part named so
    would vanish from every folder read. The data.gov.uk crawl's file names hold "~", so they are escaped."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from corpus.sources import commoncrawl

    root = samples_dir / "commoncrawl"
    names = [part_name(root, p) for p in commoncrawl.discover_inputs(root)]
    assert any(n.startswith("=") for n in names)
    for n in names:
        pq.write_table(pa.table({"part": [n]}), tmp_path / f"{n}.parquet")
    assert sorted(pq.read_table(tmp_path).column("part").to_pylist()) == sorted(names)
