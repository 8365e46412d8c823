"""The GitHub reader on repository trees assembled from installed packages (no source code is stored
in ../shared/samples): license filtering, RedPajama's file rules, tar safety, BigQuery-style exports."""
from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from importlib.metadata import distribution
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from corpus.schema import Drop, make_doc_id
from corpus.part_runners import ingest_part
from corpus.storage import Layout, PartWriter
from corpus.sources import github
from corpus.sources.github_rules import quality_reason, strip_copyright_header

IGNORE = shutil.ignore_patterns("__pycache__", "*.so")


def package_dir(dist: str, package: str) -> Path:
    return Path(distribution(dist).locate_file(package))


def dist_info_dir(dist: str) -> Path:
    files = distribution(dist).files or []
    return Path(distribution(dist).locate_file(next(f for f in files if f.name == "METADATA"))).parent


def installed_repo(root: Path, repo: str, dist: str, package: str, *, license_at_root: str | None = None,
                   with_dist_info: bool = False) -> Path:
    """A repository tree: the package's sources, and its license where a repository (root) or an
    installed package (dist-info) keeps it."""
    tree = root / repo
    shutil.copytree(package_dir(dist, package), tree / package, ignore=IGNORE)
    info = dist_info_dir(dist)
    if license_at_root:
        shutil.copy(next(info.rglob(license_at_root)), tree / license_at_root)
    if with_dist_info:
        shutil.copytree(info, tree / info.name)
    return tree


def read_unit(path: Path, root: Path, **options) -> tuple[list[dict], list[Drop]]:
    records = list(github.read_documents(path, path.relative_to(root).as_posix(), **options))
    return [r for r in records if isinstance(r, dict)], [r for r in records if isinstance(r, Drop)]


def reasons_by_path(drops: list[Drop]) -> dict[str, str]:
    """'<repo>/<path>' -> reason, from the drop details (they name the file)."""
    return {d.detail.split(": ")[1]: d.reason for d in drops}


@pytest.fixture(scope="module")
def forest(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("github")
    installed_repo(root, "click", "click", "click", license_at_root="LICENSE.txt")  # BSD-3-Clause
    installed_repo(root, "tomli", "tomli", "tomli", with_dist_info=True)  # MIT, from dist-info/licenses
    installed_repo(root, "requests", "requests", "requests", with_dist_info=True)  # Apache-2.0
    installed_repo(root, "unidecode", "Unidecode", "unidecode", with_dist_info=True)  # GPL-2.0
    installed_repo(root, "tomli-unlicensed", "tomli", "tomli")  # the MIT sources without any license file
    return root


def test_discover_lists_each_repository_folder_sorted(forest):
    assert [p.name for p in github.discover_inputs(forest)] == ["click", "requests", "tomli", "tomli-unlicensed", "unidecode"]


def test_permissive_repositories_are_kept_and_the_others_dropped_with_the_reason(forest):
    outcome = {}
    for unit in github.discover_inputs(forest):
        docs, drops = read_unit(unit, forest)
        licenses = {d["license"] for d in docs}
        repo_drops = [d.reason for d in drops if d.reason.startswith("license:")]
        outcome[unit.name] = (licenses, repo_drops, len(docs))
    assert {k: v[:2] for k, v in outcome.items()} == {
        "click": ({"BSD-3-Clause"}, []),
        "tomli": ({"MIT"}, []),
        "requests": ({"Apache-2.0"}, []),
        "unidecode": (set(), ["license:GPL-2.0"]),
        "tomli-unlicensed": (set(), ["license:none"]),
    }
    assert outcome["click"][2] >= 15 and outcome["requests"][2] >= 15 and outcome["tomli"][2] >= 4


def test_ingest_parts_record_the_license_drops(forest, tmp_path):
    layout = Layout(tmp_path / "data")
    for unit in github.discover_inputs(forest):
        with PartWriter(layout, "ingest", "github", unit.name, "test") as writer:
            ingest_part(writer, github.read_documents(unit, unit.name))
    dropped = {part: pq.read_table(layout.part("dropped", "ingest", "github", part)).to_pylist()
               for part in ("unidecode", "tomli-unlicensed", "click")}
    assert [row["reason"] for row in dropped["unidecode"]] == ["license:GPL-2.0"]
    assert [row["reason"] for row in dropped["tomli-unlicensed"]] == ["license:none"]
    assert not any(row["reason"].startswith("license:") for row in dropped["click"])
    click_docs = pq.read_table(layout.part("docs", "ingest", "github", "click"))
    assert set(click_docs.column("license").to_pylist()) == {"BSD-3-Clause"}


def test_an_excluded_repository_is_one_drop_naming_it(forest):
    docs, drops = read_unit(forest / "unidecode", forest)
    assert docs == [] and len(drops) == 1
    assert drops[0].id == make_doc_id("github", "unidecode:repository:unidecode")
    assert drops[0].stage == "ingest" and "repository unidecode" in drops[0].detail and "license files" in drops[0].detail


def test_documents_carry_path_license_and_meta(forest):
    docs, drops = read_unit(forest / "click", forest)
    by_path = {d["path"]: d for d in docs}
    core = by_path["click/click/core.py"]
    assert core["text"] == (package_dir("click", "click") / "core.py").read_text()
    assert core["id"] == make_doc_id("github", "click:click/core.py")
    assert json.loads(core["meta"]) == {"repo": "click", "language": "Python", "extension": ".py"}
    assert reasons_by_path(drops)["click/LICENSE.txt"] == "license_file"
    assert reasons_by_path(drops)["click/click/py.typed"] == "extension"
    assert [d["path"] for d in docs] == sorted(d["path"] for d in docs)


def test_dist_info_files_are_evidence_not_documents(forest):
    docs, drops = read_unit(forest / "tomli", forest)
    reasons = {path.rsplit("/", 1)[1]: reason for path, reason in reasons_by_path(drops).items()}
    assert reasons["METADATA"] == "extension" and reasons["RECORD"] == "extension" and reasons["LICENSE"] == "license_file"
    assert all(d["path"].startswith("tomli/tomli/") for d in docs)


def test_copyright_header_is_cut_from_real_files(forest):
    docs, _ = read_unit(forest / "tomli", forest)
    parser = next(d for d in docs if d["path"] == "tomli/tomli/_parser.py")
    original = (package_dir("tomli", "tomli") / "_parser.py").read_text()
    assert original.startswith("# SPDX-License-Identifier: MIT\n# SPDX-FileCopyrightText:")
    assert parser["text"] == original.split("\n\n", 1)[1]
    # requests/__init__.py opens with an ASCII-art comment that mentions no copyright: kept
    docs, _ = read_unit(forest / "requests", forest)
    init = next(d for d in docs if d["path"] == "requests/requests/__init__.py")
    assert init["text"] == (package_dir("requests", "requests") / "__init__.py").read_text()


def test_reading_is_deterministic(forest):
    assert list(github.read_documents(forest / "requests", "requests")) == list(github.read_documents(forest / "requests", "requests"))


# --- header removal ---------------------------------------------------------------------------

def test_header_removal_keeps_include_and_shebang_lines():
    c_header = "/*\n * Copyright (c) 2019 Example Authors\n * All rights reserved.\n */\n\n#include <stdio.h>\nint x;\n"
    assert strip_copyright_header(c_header, "C") == "#include <stdio.h>\nint x;\n"
    c_include_first = "#include <stdio.h>\n#include <string.h>\n/* Copyright 2019 */\nint x;\n"
    assert strip_copyright_header(c_include_first, "C") == c_include_first
    script = "#!/usr/bin/env python3\n# Copyright 2019 Example Authors\n# Licensed under the MIT license.\n\nimport os\n"
    assert strip_copyright_header(script, "Python") == "#!/usr/bin/env python3\nimport os\n"
    go = "// Copyright 2019 Example Authors\n//\n// Use of this source code is governed by a license.\n\n// Package x does y.\npackage x\n"
    assert strip_copyright_header(go, "Go") == "// Package x does y.\npackage x\n"
    comment_without_copyright = "# A helper.\n# Nothing legal here.\nimport os\n"
    assert strip_copyright_header(comment_without_copyright, "Python") == comment_without_copyright
    code_after_block = "/* Copyright 2019 */ int x;\n"
    assert strip_copyright_header(code_after_block, "C") == " int x;\n"


# --- RedPajama's file rules, each with its reason -------------------------------------------------

REPEATED_WORDS = "value = compute(value)\n" * 20


@pytest.fixture
def crafted_repo(tmp_path) -> Path:
    root = tmp_path / "raw"
    repo = root / "crafted"
    (repo / "sub").mkdir(parents=True)
    shutil.copy(next(dist_info_dir("click").rglob("LICENSE.txt")), repo / "LICENSE.txt")
    files = {
        "wide.py": "x = 1\n" + "y" * 1001 + "\n" + REPEATED_WORDS,
        "mean.py": ("word " * 30 + "\n") * 5,  # 151 chars per line, none over 1,000
        "symbols.py": "{}[]();:.,<>+-*/=\n" * 20,
        "numbers.py": "1 2 3 4 5 6 7 8 9 0\n" * 20,  # alphanumeric, but no letters per token
        "blank.py": " \n\n\t\n",
        "image.png": "not really an image",
        "server.crt": "-----BEGIN CERTIFICATE-----\n",
        "sub/LICENSE": "see the top-level license\n",
        "first.py": REPEATED_WORDS,
        "sub/copy.py": REPEATED_WORDS,
        "Makefile": "all:\n\techo building the program\n",
        "Dockerfile": "FROM python:3.11\nRUN echo installing packages\n",
        "widget.C": "int widget_count(void) { return counter; }\n",
        "hello.c": "/* Copyright 2020 Example */\n#include <stdio.h>\nint main(void) { return puts(\"hello world\"); }\n",
        "run.sh": "#!/bin/sh\n# Copyright 2020 Example\n# All rights reserved.\n\necho hello world from the script\n",
    }
    for name, text in files.items():
        (repo / name).write_text(text)
    (repo / "nul.py").write_bytes(b"print('a')\x00\n")
    (repo / "latin1.py").write_bytes("name = 'café'\n".encode("latin-1"))
    (repo / "big.py").write_text(REPEATED_WORDS * 20)
    (repo / "link.py").symlink_to(repo / "first.py")
    return repo


def test_each_rule_drops_with_its_own_reason(crafted_repo):
    docs, drops = read_unit(crafted_repo, crafted_repo.parent, max_doc_bytes=4096)
    assert reasons_by_path(drops) == {
        "crafted/wide.py": "max_line_len",
        "crafted/mean.py": "mean_line_len",
        "crafted/symbols.py": "alnum_fraction",
        "crafted/numbers.py": "alpha_per_token",
        "crafted/blank.py": "empty",
        "crafted/image.png": "extension",
        "crafted/server.crt": "certificate",
        "crafted/LICENSE.txt": "license_file",
        "crafted/sub/LICENSE": "license_file",
        "crafted/sub/copy.py": "duplicate",
        "crafted/nul.py": "binary",
        "crafted/latin1.py": "binary",
        "crafted/big.py": "too_large",
        "crafted/link.py": "link",
    }
    kept = {d["path"]: d for d in docs}
    assert sorted(kept) == ["crafted/Dockerfile", "crafted/Makefile", "crafted/first.py", "crafted/hello.c",
                            "crafted/run.sh", "crafted/widget.C"]
    assert kept["crafted/hello.c"]["text"].startswith("#include <stdio.h>\n")
    assert kept["crafted/run.sh"]["text"] == "#!/bin/sh\necho hello world from the script\n"
    assert json.loads(kept["crafted/widget.C"]["meta"])["language"] == "C++"
    assert json.loads(kept["crafted/Makefile"]["meta"]) == {"repo": "crafted", "language": "Makefile", "extension": "Makefile"}
    duplicate = next(d for d in drops if d.reason == "duplicate")
    assert "same content as crafted/first.py" in duplicate.detail


def test_quality_rules_at_their_thresholds():
    short_lines = "ab\n" * 20
    assert quality_reason("a" * 1000 + "\n" + short_lines) is None
    assert quality_reason("a" * 1001 + "\n" + short_lines) == "max_line_len"
    assert quality_reason(("ab " * 33 + "\n") * 3) is None  # 100 characters per line, newline included
    assert quality_reason(("ab " * 33 + "a\n") * 3) == "mean_line_len"
    assert quality_reason("abc = de\n") is None  # 5 letters over 3 tokens
    assert quality_reason("ab = c\n") == "alpha_per_token"  # 3 letters over 3 tokens
    assert quality_reason("abcde" + "(" * 14 + "\n") is None  # 5 of 20 characters are alphanumeric
    assert quality_reason("abcd" + "(" * 15 + "\n") == "alnum_fraction"  # 4 of 20
    # non-ASCII characters count as Python's str.isalnum/isalpha say: Greek letters are letters,
    # superscript digits are alphanumeric but not letters
    assert quality_reason("αβγ = δεζ\n") is None
    assert quality_reason("x²³ = y²³\n") == "alpha_per_token"


# --- tar archives -------------------------------------------------------------------------------

def add_member(archive: tarfile.TarFile, name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, target: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, target, len(data)
    archive.addfile(info, io.BytesIO(data) if data else None)


def test_a_repository_tarball_is_streamed_with_its_top_folder_stripped(tmp_path):
    tree = installed_repo(tmp_path / "trees", "markupsafe-3.0.4", "markupsafe", "markupsafe", license_at_root="LICENSE.txt")
    raw = tmp_path / "raw"
    raw.mkdir()
    with tarfile.open(raw / "markupsafe.tar.gz", "w:gz") as archive:
        archive.add(tree, arcname="markupsafe-3.0.4")
        add_member(archive, "markupsafe-3.0.4/evil_link.py", kind=tarfile.SYMTYPE, target="/etc/passwd")
        add_member(archive, "markupsafe-3.0.4/hard.py", kind=tarfile.LNKTYPE, target="markupsafe-3.0.4/markupsafe/__init__.py")
        add_member(archive, "../escape.py", b"print('outside the tree')\n")
        add_member(archive, "/etc/absolute.py", b"print('absolute path')\n")
    assert github.discover_inputs(raw) == [raw / "markupsafe.tar.gz"]
    docs, drops = read_unit(raw / "markupsafe.tar.gz", raw)
    by_path = {d["path"]: d for d in docs}
    assert set(by_path) == {"markupsafe/markupsafe/__init__.py", "markupsafe/markupsafe/_native.py",
                            "markupsafe/markupsafe/_speedups.c"}
    assert {d["license"] for d in docs} == {"BSD-3-Clause"}
    assert by_path["markupsafe/markupsafe/_speedups.c"]["text"] == (package_dir("markupsafe", "markupsafe") / "_speedups.c").read_text()
    refused = {d.detail.split("member ")[1].removesuffix(" refused"): d.reason for d in drops if "refused" in d.detail}
    assert refused == {"'markupsafe-3.0.4/evil_link.py'": "link", "'markupsafe-3.0.4/hard.py'": "link",
                       "'../escape.py'": "unsafe_path", "'/etc/absolute.py'": "unsafe_path"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw", "trees"]  # nothing extracted


def test_a_truncated_tarball_keeps_what_came_before_the_damage(tmp_path):
    tree = installed_repo(tmp_path / "trees", "click", "click", "click", license_at_root="LICENSE.txt")
    whole = tmp_path / "click.tar.gz"
    with tarfile.open(whole, "w:gz") as archive:
        archive.add(tree / "LICENSE.txt", arcname="LICENSE.txt")
        for source in sorted((tree / "click").glob("*.py")):
            archive.add(source, arcname=f"click/{source.name}")
    raw = tmp_path / "raw"
    raw.mkdir()
    data = whole.read_bytes()
    (raw / "click.tar.gz").write_bytes(data[: len(data) // 2])
    docs, drops = read_unit(raw / "click.tar.gz", raw)
    assert 0 < len(docs) < len(list((tree / "click").glob("*.py")))
    assert drops[-1].reason == "corrupt_archive" and "click.tar.gz" in drops[-1].detail


def test_an_unreadable_archive_is_one_counted_drop(tmp_path):
    (tmp_path / "junk.tgz").write_bytes(b"this is not a tar archive at all")
    docs, drops = read_unit(tmp_path / "junk.tgz", tmp_path)
    assert docs == [] and [d.reason for d in drops] == ["corrupt_archive"]


# --- BigQuery-style exports ---------------------------------------------------------------------

def test_export_rows_use_their_license_field(tmp_path):
    mit_source = (package_dir("tomli", "tomli") / "_re.py").read_text()
    gpl_source = (package_dir("Unidecode", "unidecode") / "util.py").read_text()
    rows = [
        {"repo_name": "octo/mit-repo", "path": "src/_re.py", "content": mit_source, "license": "mit"},
        {"repo_name": "octo/mit-repo", "path": "src/copy_of_re.py", "content": mit_source, "license": "mit"},
        {"repo_name": "octo/apache-repo", "path": "main.go", "content": "package main\n\nfunc main() { run() }\n",
         "license": "apache-2.0"},
        {"repo_name": "octo/gpl-repo", "path": "util.py", "content": gpl_source, "license": "gpl-2.0"},
        {"repo_name": "octo/gpl-repo", "path": "more.py", "content": "import os\n", "license": "gpl-2.0"},
        {"repo_name": "octo/no-license", "path": "a.py", "content": "import os\n", "license": None},
        {"repo_name": "octo/odd-license", "path": "a.py", "content": "import os\n", "license": "my own terms"},
        {"repo_name": "octo/mit-repo", "path": "logo.png", "content": "PNG", "license": "mit"},
    ]
    lines = [json.dumps(r) for r in rows] + ["{not json", json.dumps({"repo_name": "octo/x", "path": "y.py"})]
    export = tmp_path / "github-export.jsonl.gz"
    export.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    assert github.discover_inputs(tmp_path) == [export]
    docs, drops = read_unit(export, tmp_path)
    assert [(d["path"], d["license"]) for d in docs] == [("octo/mit-repo/src/_re.py", "MIT"),
                                                        ("octo/apache-repo/main.go", "Apache-2.0")]
    assert json.loads(docs[1]["meta"]) == {"repo": "octo/apache-repo", "language": "Go", "extension": ".go"}
    assert sorted((d.reason, d.detail.split(": ", 1)[1]) for d in drops) == [
        ("bad_json", "line 9"),
        ("duplicate", "octo/mit-repo/src/copy_of_re.py: same content as octo/mit-repo/src/_re.py"),
        ("extension", "octo/mit-repo/logo.png"),
        ("license:GPL-2.0", "repository octo/gpl-repo: license field 'gpl-2.0'; 2 files"),
        ("license:none", "repository octo/no-license: no license field; 1 files"),
        ("license:unknown", "repository octo/odd-license: license field 'my own terms'; 1 files"),
        ("missing_field", "line 10"),
    ]
