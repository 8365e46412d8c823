"""ArXiv LaTeX sources: a folder per paper, a ``.tar`` of papers (paper folders, or arXiv's bulk tars of
per-paper ``.gz``), a per-paper ``.tar.gz``/``.tgz``/``.gz`` (a gzipped tar, or one gzipped ``.tex``),
or a lone ``.tex``.

Archives are read in memory, never extracted: only TeX files are kept (figures are skipped while the
stream passes), each capped at ``max_doc_bytes``. A member with an absolute or ``..`` path, a symlink,
a hardlink or a device is refused and counted; so is an ``\\input`` that points outside the paper. A
damaged archive drops the paper it was reading (half a paper is not kept) and the other papers go on.

Encoding policy: each file is decoded as UTF-8 and, failing that, as Latin-1 (which never fails);
``meta.encoding`` says ``latin-1`` and ``meta.latin1_files`` names the files when that happened.
The cleaning itself (``corpus.sources.arxiv_latex``) follows the LLaMA-1 recipe.
"""
from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Iterator

from corpus.compression import TAR_ERRORS as ARCHIVE_ERRORS
from corpus.recipe import ARXIV_MAX_INCLUDE_DEPTH, ARXIV_MAX_MACRO_DEPTH, INGEST_MAX_DOC_BYTES
from corpus.schema import Drop, new_document
from corpus.sources.arxiv_latex import (
    TEX_SUFFIXES, MacroExpansionError, assemble, clean_paper, main_file_candidates, remove_comments,
)

SOURCE = "arxiv"
STAGE = "ingest"
TAR_SUFFIXES = (".tar",)
PAPER_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".gz")
_ARXIV_ID = re.compile(r"(\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})(v\d+)?")
_TAR_MAGIC_OFFSET = 257


@dataclass
class Paper:
    key: str  # where the paper sits inside its input unit ("" when the unit is the paper)
    files: dict[str, bytes]


def discover_inputs(root: Path) -> list[Path]:
    """Archives and loose ``.tex`` files anywhere under ``root``, and each top-level folder that holds
    TeX files (a paper folder)."""
    if not root.is_dir():
        return []
    units = [p for p in root.rglob("*") if p.is_file() and _is_archive(p.name)]
    units += [p for p in root.iterdir() if p.is_file() and p.name.lower().endswith(TEX_SUFFIXES)]
    units += [p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and _holds_tex(p)]
    return sorted(units)


def read_documents(path: Path, name: str, max_doc_bytes: int = INGEST_MAX_DOC_BYTES,
                   max_include_depth: int = ARXIV_MAX_INCLUDE_DEPTH,
                   max_macro_depth: int = ARXIV_MAX_MACRO_DEPTH) -> Iterator[dict[str, Any] | Drop]:
    for item in _papers(path, name, max_doc_bytes):
        if isinstance(item, Drop):
            yield item
        else:
            yield from _paper_documents(item, path, name, max_doc_bytes, max_include_depth, max_macro_depth)


def _is_archive(filename: str) -> bool:
    return filename.lower().endswith(TAR_SUFFIXES + PAPER_ARCHIVE_SUFFIXES)


def _holds_tex(folder: Path) -> bool:
    return any(f.lower().endswith(TEX_SUFFIXES) for _, _, files in os.walk(folder) for f in files)


def _papers(path: Path, name: str, cap: int) -> Iterator[Paper | Drop]:
    lower = path.name.lower()
    if path.is_dir():
        yield from _folder_paper(path, name, cap)
    elif lower.endswith(TAR_SUFFIXES):
        yield from _tar_papers(path, name, cap)
    elif lower.endswith(PAPER_ARCHIVE_SUFFIXES):
        with open(path, "rb") as raw:
            yield from _gzip_paper(raw, "", name, str(path), cap)
    elif path.stat().st_size > cap:
        yield _drop(name, "too_large", f"{path}: over {cap} bytes")
    else:
        yield Paper("", {path.name: path.read_bytes()})


def _folder_paper(folder: Path, name: str, cap: int) -> Iterator[Paper | Drop]:
    files: dict[str, bytes] = {}
    for directory, subdirs, filenames in os.walk(folder):
        subdirs.sort()
        for filename in sorted(filenames):
            file = Path(directory, filename)
            rel = file.relative_to(folder).as_posix()
            if not filename.lower().endswith(TEX_SUFFIXES):
                continue
            if file.is_symlink():
                yield _drop(f"{name}:{rel}", "unsafe_member", f"{file}: a symlink (refused)")
            elif file.stat().st_size > cap:
                yield _drop(f"{name}:{rel}", "too_large", f"{file}: over {cap} bytes")
            else:
                files[rel] = file.read_bytes()
    yield Paper("", files)


def _tar_papers(path: Path, name: str, cap: int) -> Iterator[Paper | Drop]:
    """A tar of papers: members in paper folders group by top folder, loose top-level TeX files form the
    tar's own paper, and each per-paper ``.gz`` member (arXiv's bulk tars) is a paper of its own."""
    try:
        tar = tarfile.open(path, "r:*")
    except ARCHIVE_ERRORS as exc:
        yield _drop(f"{name}:archive", "corrupt_archive", f"{path}: {exc}")
        return
    with tar:
        members: list[tarfile.TarInfo] = []
        cut_key = None  # the paper folder the damage cut through: its files past the damage are lost
        try:
            for member in tar:  # headers only; the index stays small
                members.append(member)
        except ARCHIVE_ERRORS as exc:
            yield _drop(f"{name}:archive", "corrupt_archive", f"{path}: listing stopped after {len(members)} members: {exc}")
            if members and not _is_archive(members[-1].name):
                cut_key = _paper_key(members[-1])
        groups: dict[str, list[tarfile.TarInfo]] = {}
        for member in members:
            if refusal := _unsafe(member):
                yield _drop(f"{name}:{member.name}", "unsafe_member", f"{path}: member {member.name!r}: {refusal}")
            elif member.isfile() and _is_archive(member.name):
                with tar.extractfile(member) as raw:
                    yield from _gzip_paper(raw, member.name, name, f"{path}:{member.name}", cap)
            elif member.isfile() and member.name.lower().endswith(TEX_SUFFIXES):
                groups.setdefault(_paper_key(member), []).append(member)
        for key in sorted(groups):
            if key == cut_key:
                yield _drop(f"{name}:{key}", "corrupt_archive", f"{path}: paper {key or path.name!r} is cut by the damage")
                continue
            try:
                yield Paper(key, _read_members(tar, groups[key], key, name, path, cap))
            except _MemberTooLarge as exc:
                yield _drop(f"{name}:{key}", "too_large", str(exc))
            except ARCHIVE_ERRORS as exc:
                yield _drop(f"{name}:{key}", "corrupt_archive", f"{path}: paper {key or path.name!r}: {exc}")


class _MemberTooLarge(Exception):
    pass


def _read_members(tar: tarfile.TarFile, members: list[tarfile.TarInfo], key: str, name: str, path: Path,
                  cap: int) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for member in members:
        if member.size > cap:
            raise _MemberTooLarge(f"{path}: member {member.name!r} over {cap} bytes")
        with tar.extractfile(member) as stream:
            files[PurePosixPath(member.name).relative_to(key).as_posix() if key else member.name] = stream.read()
    return files


def _paper_key(member: tarfile.TarInfo) -> str:
    parts = PurePosixPath(member.name).parts
    return parts[0] if len(parts) > 1 else ""


def _unsafe(member: tarfile.TarInfo) -> str | None:
    path = PurePosixPath(member.name.replace("\\", "/"))
    if path.is_absolute() or re.match(r"[A-Za-z]:", member.name):
        return "absolute path (refused)"
    if ".." in path.parts:
        return "path leaves the archive (refused)"
    if member.issym() or member.islnk():
        return f"link to {member.linkname!r} (refused)"
    if not (member.isfile() or member.isdir()):
        return "special file (refused)"
    return None


def _gzip_paper(raw: BinaryIO, key: str, name: str, where: str, cap: int) -> Iterator[Paper | Drop]:
    """One paper from arXiv's per-paper gzip: a tar of the sources, or the single ``.tex`` itself."""
    locator = f"{name}:{key}" if key else name
    files: dict[str, bytes] = {}
    drops: list[Drop] = []
    try:
        stream = io.BufferedReader(gzip.GzipFile(fileobj=raw, mode="rb"), 1 << 16)
        head = stream.peek(_TAR_MAGIC_OFFSET + 5)
        if head[_TAR_MAGIC_OFFSET:_TAR_MAGIC_OFFSET + 5] != b"ustar":
            data = stream.read(cap + 1)
            if len(data) > cap:
                yield _drop(locator, "too_large", f"{where}: over {cap} bytes")
            elif not data.strip():
                yield _drop(locator, "empty_file", f"{where}: no content")
            elif data.lstrip().startswith(b"%PDF"):
                yield _drop(locator, "no_tex_source", f"{where}: a PDF-only submission")
            else:
                yield Paper(key, {"main.tex": data})
            return
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if refusal := _unsafe(member):
                    drops.append(_drop(f"{locator}:{member.name}", "unsafe_member", f"{where}: member {member.name!r}: {refusal}"))
                elif member.isfile() and member.name.lower().endswith(TEX_SUFFIXES):
                    if member.size > cap:
                        drops.append(_drop(f"{locator}:{member.name}", "too_large", f"{where}: member {member.name!r} over {cap} bytes"))
                    else:
                        files[member.name] = tar.extractfile(member).read()
    except ARCHIVE_ERRORS as exc:
        yield from drops
        yield _drop(locator, "corrupt_archive", f"{where}: {exc}")
        return
    yield from drops
    yield Paper(key, files)


def _paper_documents(paper: Paper, path: Path, name: str, cap: int, max_include_depth: int,
                     max_macro_depth: int) -> Iterator[dict[str, Any] | Drop]:
    locator = f"{name}:{paper.key}" if paper.key else name
    where = f"{path}:{paper.key}" if paper.key else str(path)
    texts: dict[str, str] = {}
    latin1: list[str] = []
    for filename in sorted(paper.files):
        data = paper.files[filename]
        try:
            texts[filename] = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            texts[filename] = data.decode("latin-1")
            latin1.append(filename)
        texts[filename] = remove_comments(texts[filename].replace("\r\n", "\n").replace("\x00", ""))
    candidates = main_file_candidates(texts)
    if not candidates:
        yield _drop(locator, "no_main_file", f"{where}: no .tex file with \\documentclass or \\begin{{document}}")
        return
    # Several roots (a paper and its supplement, say): the one that pulls in the most text is the paper.
    assemblies = [(c, assemble(c, texts, max_include_depth)) for c in candidates]
    main, assembly = max(assemblies, key=lambda item: len(item[1].text))
    for reference, why in assembly.refused:
        yield _drop(f"{locator}:include:{reference}", "include_refused", f"{where}: \\input{{{reference}}} {why}")
    try:
        cleaned = clean_paper(assembly.text, max_macro_depth, cap)
    except MacroExpansionError as exc:
        yield _drop(locator, "too_large", f"{where}: {exc}")
        return
    if cleaned is None:
        yield _drop(locator, "no_section", f"{where}: no \\section-level command; nothing kept (recipe)")
        return
    text, expanded = cleaned
    if not text:
        yield _drop(locator, "empty_text", f"{where}: nothing between the first section and the bibliography")
        return
    meta: dict[str, Any] = {"paper": paper.key or name, "main_file": main, "files": assembly.files,
                            "encoding": "latin-1" if latin1 else "utf-8", "macro_uses_expanded": expanded}
    if latin1:
        meta["latin1_files"] = latin1
    if assembly.missing:
        meta["missing_inputs"] = assembly.missing
    arxiv_id = _ARXIV_ID.fullmatch(re.sub(r"(\.tar)?\.gz$|\.tgz$", "", PurePosixPath(paper.key or path.name).name))
    url = f"https://arxiv.org/abs/{arxiv_id.group()}" if arxiv_id else None
    yield new_document(SOURCE, locator, text, url=url, path=locator, meta=meta)


def _drop(locator: str, reason: str, detail: str) -> Drop:
    return Drop.at(SOURCE, locator, STAGE, reason, detail)
