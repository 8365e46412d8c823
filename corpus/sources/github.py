"""GitHub source code: repository trees (a folder, or a ``.tar.gz``/``.tgz``/``.tar`` of one) and
BigQuery-export-style JSON lines (``repo_name``, ``path``, ``content``, ``license``).

One document per kept source file, ``path`` = ``<repo>/<file path>``, ``license`` = the SPDX id.
A tree's license comes from its license files (and, for an installed Python package, its dist-info
files and METADATA as secondary evidence); an export row's from its ``license`` field. A repository
whose license is missing, unknown or not permissive yields one ``Drop`` for the whole repository
(reason ``license:none``, ``license:unknown`` or ``license:<SPDX id>``) and nothing else. Every file
of a kept repository then goes through RedPajama's rules (``github_rules``), each discard with its
own reason, and exact dedup by content within the input unit.

Tar archives are streamed twice (license files first, then the files), never extracted; members
with absolute or ``..`` paths and links are refused.
"""
from __future__ import annotations

import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator

import xxhash

from corpus.compression import TAR_ERRORS, iter_lines, open_stream, stream_damage
from corpus.filters.license import (
    LicenseVerdict,
    is_license_file_name,
    normalize_license_name,
    repository_license,
)
from corpus.recipe import INGEST_MAX_DOC_BYTES
from corpus.schema import Drop, new_document
from corpus.sources.github_rules import decode_source, language_of, path_skip_reason, quality_reason, strip_copyright_header

SOURCE = "github"
STAGE = "ingest"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
EXPORT_SUFFIXES = (".jsonl", ".jsonl.gz")
# Folders that hold version-control internals, not the repository's files.
VCS_DIRS = frozenset({".git", ".hg", ".svn"})
# Ours: license texts are short; reading more of a "LICENSE" file than this adds nothing.
MAX_LICENSE_FILE_BYTES = 1 << 20
# What a damaged or truncated archive raises while streamed.


def discover_inputs(root: Path) -> list[Path]:
    """Each folder directly under ``root`` is a repository; archives and exports beside them are units too."""
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.iterdir()
        if not p.name.startswith(".")
        and (p.is_dir() and not p.is_symlink() or p.is_file() and p.name.lower().endswith(ARCHIVE_SUFFIXES + EXPORT_SUFFIXES))
    )


def read_documents(path: Path, name: str, max_doc_bytes: int = INGEST_MAX_DOC_BYTES) -> Iterator[dict[str, Any] | Drop]:
    if path.is_dir():
        return _read_tree(path, name, max_doc_bytes)
    lowered = path.name.lower()
    if lowered.endswith(EXPORT_SUFFIXES):
        return _read_export(path, name, max_doc_bytes)
    return _read_archive(path, name, max_doc_bytes)


def is_license_evidence(relpath: str) -> bool:
    """A root license file, or a top-level ``*.dist-info``'s LICENSE*/``licenses/*``/METADATA."""
    parts = PurePosixPath(relpath).parts
    if len(parts) == 1:
        return is_license_file_name(parts[0])
    if not parts[0].endswith(".dist-info"):
        return False
    return (len(parts) == 2 and (parts[1] == "METADATA" or is_license_file_name(parts[1]))
            or len(parts) == 3 and parts[1] == "licenses")


def _verdict(evidence: dict[str, str]) -> LicenseVerdict:
    metadata = {p: text for p, text in evidence.items() if PurePosixPath(p).name == "METADATA"}
    licenses = {p: text for p, text in evidence.items() if p not in metadata}
    return repository_license(licenses, metadata)


@dataclass
class _UnitFiles:
    """The file rules of one input unit, with its exact-dedup memory (content hash -> first path)."""

    source_path: Path
    name: str
    max_doc_bytes: int
    first_seen: dict[int, str] = field(default_factory=dict)

    def drop(self, locator: str, reason: str, detail: str) -> Drop:
        return Drop.at(SOURCE, f"{self.name}:{locator}", STAGE, reason, f"{self.source_path}: {detail}")

    def document(self, locator: str, repo: str, relpath: str, size: int, read: Callable[[], bytes],
                 license_id: str) -> dict[str, Any] | Drop:
        where = f"{repo}/{relpath}"
        skip = path_skip_reason(relpath)
        if skip is not None:
            return self.drop(locator, skip, where)
        if size > self.max_doc_bytes:
            return self.drop(locator, "too_large", f"{where}: {size} bytes over {self.max_doc_bytes}")
        raw = read()
        text = decode_source(raw)
        if text is None:
            return self.drop(locator, "binary", f"{where}: NUL bytes or not UTF-8")
        digest = xxhash.xxh3_128_intdigest(raw)
        if digest in self.first_seen:
            return self.drop(locator, "duplicate", f"{where}: same content as {self.first_seen[digest]}")
        self.first_seen[digest] = where
        language = language_of(relpath)
        text = strip_copyright_header(text, language)
        reason = quality_reason(text)
        if reason is not None:
            return self.drop(locator, reason, where)
        extension = PurePosixPath(relpath).suffix or PurePosixPath(relpath).name
        return new_document(SOURCE, f"{self.name}:{locator}", text, path=where, license=license_id,
                            meta={"repo": repo, "language": language, "extension": extension})


def _license_drop(unit: _UnitFiles, repo: str, verdict: LicenseVerdict, files: str) -> Drop:
    return unit.drop(f"repository:{repo}", verdict.drop_reason, f"repository {repo}: {verdict.evidence}; {files}")


# --- repository folders -------------------------------------------------------------------------

def _walk(root: Path) -> Iterator[tuple[str, Path]]:
    """(relative path, path) of every entry, sorted per folder; links are yielded, never followed."""
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if d not in VCS_DIRS)
        for entry in sorted(files) + [d for d in dirs if (here / d).is_symlink()]:
            yield (here / entry).relative_to(root).as_posix(), here / entry


def _read_head(path: Path, limit: int) -> str:
    with open(path, "rb") as f:
        return f.read(limit).decode("utf-8", "replace")


def _read_tree(root: Path, name: str, max_doc_bytes: int) -> Iterator[dict[str, Any] | Drop]:
    unit = _UnitFiles(root, name, max_doc_bytes)
    repo = root.name
    verdict = _verdict({rel: _read_head(p, MAX_LICENSE_FILE_BYTES) for rel, p in _walk_evidence(root)})
    if not verdict.permitted:
        yield _license_drop(unit, repo, verdict, "no file read")
        return
    for rel, p in _walk(root):
        if p.is_symlink():
            yield unit.drop(rel, "link", f"{repo}/{rel}: symbolic link not followed")
        elif not p.is_file():
            yield unit.drop(rel, "not_a_file", f"{repo}/{rel}")
        else:
            yield unit.document(rel, repo, rel, p.stat().st_size, p.read_bytes, verdict.license)


def _walk_evidence(root: Path) -> Iterator[tuple[str, Path]]:
    candidates = [p for p in sorted(root.iterdir()) if p.is_file() and not p.is_symlink()]
    for info in sorted(d for d in root.iterdir() if d.name.endswith(".dist-info") and d.is_dir() and not d.is_symlink()):
        candidates += sorted(p for p in info.iterdir() if p.is_file() and not p.is_symlink())
        if (info / "licenses").is_dir():
            candidates += sorted(p for p in (info / "licenses").iterdir() if p.is_file() and not p.is_symlink())
    for p in candidates:
        rel = p.relative_to(root).as_posix()
        if is_license_evidence(rel):
            yield rel, p


# --- tar archives -------------------------------------------------------------------------------

def _archive_repo(path: Path) -> str:
    lowered = path.name.lower()
    suffix = next(s for s in ARCHIVE_SUFFIXES if lowered.endswith(s))
    return path.name[: -len(suffix)]


def _member_path(member: tarfile.TarInfo) -> str:
    """The member's path with ``./`` and doubled slashes folded (``./src//a.py`` -> ``src/a.py``)."""
    return PurePosixPath(member.name).as_posix()


def _member_problem(member: tarfile.TarInfo) -> str | None:
    if member.name.startswith(("/", "\\")) or ".." in PurePosixPath(member.name).parts:
        return "unsafe_path"
    if member.issym() or member.islnk():
        return "link"
    if not member.isfile():
        return "not_a_file"
    return None


def _common_top_folder(names: Iterable[str]) -> str:
    """GitHub's tarballs put everything under one ``<repo>-<sha>/`` folder: strip it."""
    tops = {PurePosixPath(n).parts[0] if len(PurePosixPath(n).parts) > 1 else None for n in names}
    return next(iter(tops)) + "/" if len(tops) == 1 and None not in tops else ""


def _scan_archive(path: Path) -> tuple[str, dict[str, str], str | None]:
    """First pass: the top folder to strip, the contents of every possible license file, and the
    damage that ended the pass early, if any (the license files before it still count)."""
    names: set[str] = set()
    evidence: dict[str, str] = {}
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                if member.isdir() or _member_problem(member) is not None:
                    continue
                names.add(_member_path(member))
                if _evidence_candidate(_member_path(member)):
                    evidence[_member_path(member)] = archive.extractfile(member).read(MAX_LICENSE_FILE_BYTES).decode("utf-8", "replace")
    except TAR_ERRORS as exc:
        damage = f"archive damaged, the rest is lost: {exc}"
    else:
        damage = None
    top = _common_top_folder(names)
    return top, {name[len(top):]: text for name, text in evidence.items()
                 if name.startswith(top) and is_license_evidence(name[len(top):])}, damage


def _evidence_candidate(name: str) -> bool:
    """License evidence at the archive's root or under its (possible) single top folder."""
    parts = PurePosixPath(name).parts
    return is_license_evidence(name) or len(parts) > 1 and is_license_evidence(PurePosixPath(*parts[1:]).as_posix())


def _read_archive(path: Path, name: str, max_doc_bytes: int) -> Iterator[dict[str, Any] | Drop]:
    unit = _UnitFiles(path, name, max_doc_bytes)
    repo = _archive_repo(path)
    top, evidence, damage = _scan_archive(path)
    verdict = _verdict(evidence)
    if not verdict.permitted:
        yield (unit.drop("archive", "corrupt_archive", f"{damage}; no permissive license found before it") if damage
               else _license_drop(unit, repo, verdict, "no file read"))
        return
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                if member.isdir():
                    continue
                problem = _member_problem(member)
                if problem is not None:
                    yield unit.drop(member.name, problem, f"{repo}: member {member.name!r} refused")
                    continue
                rel = _member_path(member).removeprefix(top)
                yield unit.document(rel, repo, rel, member.size, lambda: archive.extractfile(member).read(), verdict.license)
    except TAR_ERRORS as exc:
        yield unit.drop("archive", "corrupt_archive", f"{repo}: archive damaged, the rest is lost: {exc}")


# --- BigQuery-style exports ---------------------------------------------------------------------

def _export_license(raw: Any) -> LicenseVerdict:
    if not isinstance(raw, str) or not raw.strip():
        return LicenseVerdict(None, "no license field")
    return LicenseVerdict(normalize_license_name(raw), f"license field {raw!r}", True)


def _read_export(path: Path, name: str, max_doc_bytes: int) -> Iterator[dict[str, Any] | Drop]:
    """Rows of many repositories; the license is per row. An excluded repository gets one Drop
    (after the file is read, with its file count), keyed by repository and reason."""
    unit = _UnitFiles(path, name, max_doc_bytes)
    excluded: dict[tuple[str, str], tuple[LicenseVerdict, int]] = {}
    with open_stream(path) as stream:
        for lineno, raw in iter_lines(stream, max_doc_bytes):
            if raw is None:
                yield unit.drop(str(lineno), "too_large", f"line {lineno} over {max_doc_bytes} bytes")
                continue
            if not raw.strip():
                continue
            row = _export_row(raw)
            if isinstance(row, str):
                yield unit.drop(str(lineno), row, f"line {lineno}")
                continue
            repo, relpath, content = row["repo_name"], row["path"], row["content"]
            verdict = _export_license(row.get("license"))
            if not verdict.permitted:
                key = (repo, verdict.drop_reason)
                excluded[key] = (verdict, excluded.get(key, (verdict, 0))[1] + 1)
                continue
            encoded = content.encode("utf-8", "surrogatepass")
            yield unit.document(str(lineno), repo, relpath, len(encoded), lambda: encoded, verdict.license)
        if damage := stream_damage(stream):
            yield Drop.at(SOURCE, f"{name}:damaged", STAGE, "corrupt_file", damage)
    for (repo, _), (verdict, files) in sorted(excluded.items()):
        yield _license_drop(unit, repo, verdict, f"{files} files")


def _export_row(raw: bytes) -> dict[str, Any] | str:
    """The row, or the reason it is unusable."""
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "bad_utf8"
    except json.JSONDecodeError:
        return "bad_json"
    if not isinstance(row, dict):
        return "not_an_object"
    if not all(isinstance(row.get(field), str) for field in ("repo_name", "path", "content")):
        return "missing_field"
    return row
