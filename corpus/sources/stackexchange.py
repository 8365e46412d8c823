"""StackExchange: one site's dump per input unit (``Posts.xml`` in a site folder, or the site's ``.7z``).

Each question (PostTypeId 1) becomes one document, ``Q: {Title}\\n{Body}`` then ``\\nA: {Body}`` per
answer (PostTypeId 2), answers by integer score, highest first, ties by answer id (the reference sorted
the scores as strings, "9" above "10"). Bodies go from HTML to text with lxml.html
(``corpus.sources.stackexchange_html``). Only the largest ``top_sites`` sites are read (RedPajama v1
kept 28): ``rank_sites`` ranks them by the uncompressed size of their ``Posts.xml``, read from the file
system or the 7z header, a proxy for the number of posts that costs no decompression.

Streaming and the join: answers can come before their question, so a first pass spills the rows to a
SQLite file in a temporary folder (under the data root's ``work/``, or ``spill_dir``), and a second pass
merge-joins questions by id with answers read through an index on (ParentId, Score DESC, Id): memory
stays flat whatever the site's size. A ``.7z`` has only its ``Posts.xml`` extracted by py7zr, into that
same folder (py7zr offers no file-like stream of a member); the folder is removed afterwards.

Parsing: the dump writes one ``<row .../>`` per line, and each line is parsed alone by lxml with a parser
that resolves no entities, loads no DTD and touches no network (no XXE). ``iterparse`` is not used
because libxml2 cannot resume after an error (one bad row would end the file) and ``recover=True``
silently rewrites rows; per line, a malformed or non-UTF-8 row is counted as a Drop naming its line, and
the rest of the file goes on.
"""
from __future__ import annotations

import lzma
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import py7zr
from lxml import etree

from corpus.compression import iter_lines, open_stream, stream_damage
from corpus.recipe import INGEST_MAX_DOC_BYTES, STACKEXCHANGE_TOP_SITES
from corpus.schema import Drop, new_document
from corpus.sources.stackexchange_html import html_to_text
from corpus.storage import Layout

SOURCE = "stackexchange"
STAGE = "ingest"
POSTS_XML = "posts.xml"
QUESTION, ANSWER = 1, 2
# stackoverflow.com ships one archive per table; "<site>-Posts.7z" is its posts, the others are skipped.
_TABLE_ARCHIVE = re.compile(r"^(?P<site>.+)-(?P<table>[A-Za-z]+)\.7z$")
_DUMP_FRAME = re.compile(rb"^(?:<\?xml[^>]*\?>|<posts>|</posts>)?$")
# What py7zr raises on a damaged or refused archive, and nothing else: its own errors (ArchiveError covers
# Bad7zFile, CrcError, DecompressionError, ...) and the LZMA codec's, which it lets through.
_ARCHIVE_ERRORS = (py7zr.exceptions.ArchiveError, py7zr.exceptions.PasswordRequired,
                   py7zr.exceptions.AbsolutePathError, lzma.LZMAError)
_ROW_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                              huge_tree=True)


def site_name(path: Path) -> str:
    """``coffee.stackexchange.com`` for a site folder, ``<site>.7z`` or ``<site>-Posts.7z``."""
    if path.suffix.lower() != ".7z":
        return path.name
    table = _TABLE_ARCHIVE.match(path.name)
    return table.group("site") if table and table.group("table").lower() == "posts" else path.name[:-3]


def rank_sites(sites: Iterable[Path]) -> list[Path]:
    """Largest first by the uncompressed size of Posts.xml (ties by site name); an unreadable site is 0."""
    return sorted(sites, key=lambda site: (-posts_xml_bytes(site), site_name(site)))


def posts_xml_bytes(site: Path) -> int:
    if site.is_dir():
        posts = _posts_file(site)
        return posts.stat().st_size if posts else 0
    try:
        with py7zr.SevenZipFile(site, "r") as archive:
            return next((f.uncompressed for f in archive.list() if _is_posts_member(f)), 0)
    except _ARCHIVE_ERRORS:
        return 0


def discover_inputs(root: Path, top_sites: int = STACKEXCHANGE_TOP_SITES) -> list[Path]:
    """The ``top_sites`` largest sites under ``root`` (a folder wins over an archive of the same site)."""
    if not root.is_dir():
        return []
    by_site: dict[str, Path] = {}
    for path in sorted(root.rglob("*.7z")):
        table = _TABLE_ARCHIVE.match(path.name)
        if table is None or table.group("table").lower() == "posts":
            by_site.setdefault(site_name(path), path)
    for path in sorted(root.rglob("*")):
        if path.is_dir() and _posts_file(path):
            by_site[site_name(path)] = path
    return sorted(rank_sites(by_site.values())[:top_sites])


def read_documents(path: Path, name: str, max_doc_bytes: int = INGEST_MAX_DOC_BYTES,
                   spill_dir: str | None = None) -> Iterator[dict[str, Any] | Drop]:
    site = site_name(path)
    spill_root = Path(spill_dir) if spill_dir else Layout.from_env().work / "tmp"
    spill_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{SOURCE}-", dir=spill_root) as tmp:
        posts = _posts_file(path) if path.is_dir() else _extract_posts(path, name, Path(tmp))
        if isinstance(posts, Drop):
            yield posts
            return
        if posts is None:
            yield Drop.at(SOURCE, f"{name}:posts", STAGE, "no_posts_xml", f"{path}: no Posts.xml")
            return
        db = sqlite3.connect(Path(tmp) / "posts.sqlite")
        try:
            yield from _spill(posts, name, db, max_doc_bytes)
            yield from _threads(db, name, site)
        finally:
            db.close()


def _posts_file(folder: Path) -> Path | None:
    return next((p for p in sorted(folder.iterdir()) if p.name.lower() == POSTS_XML and p.is_file()), None)


def _is_posts_member(info: Any) -> bool:
    return info.filename.lower() == POSTS_XML and not info.is_directory and not info.is_symlink


def _extract_posts(archive_path: Path, name: str, into: Path) -> Path | Drop | None:
    """Posts.xml (top level, a plain file: nothing else is ever written) from the site's archive."""
    try:
        with py7zr.SevenZipFile(archive_path, "r") as archive:
            member = next((f for f in archive.list() if _is_posts_member(f)), None)
            if member is None:
                return None
            archive.extract(path=into, targets=[member.filename])
    except _ARCHIVE_ERRORS as exc:
        return Drop.at(SOURCE, f"{name}:archive", STAGE, "corrupt_archive", f"{archive_path}: {exc!r}")
    return into / member.filename


def _spill(posts: Path, name: str, db: sqlite3.Connection, max_doc_bytes: int) -> Iterator[Drop]:
    db.executescript("""
        PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
        CREATE TABLE questions (id INTEGER PRIMARY KEY, title TEXT, body TEXT, tags TEXT, score INTEGER,
                                created TEXT, license TEXT);
        CREATE TABLE answers (id INTEGER PRIMARY KEY, parent INTEGER NOT NULL, score INTEGER NOT NULL, body TEXT);
        CREATE INDEX answers_by_thread ON answers (parent, score DESC, id);
    """)
    lineno = 0
    with db, open_stream(posts) as stream:
        for lineno, raw in iter_lines(stream, max_doc_bytes):
            locator, where = f"{name}:line{lineno}", f"{posts}: line {lineno}"
            if raw is None:
                yield Drop.at(SOURCE, locator, STAGE, "too_large", f"{where}: over {max_doc_bytes} bytes")
                continue
            line = raw.strip().removeprefix(b"\xef\xbb\xbf")
            if not line.startswith(b"<row"):
                if not _DUMP_FRAME.match(line):
                    yield Drop.at(SOURCE, locator, STAGE, "unexpected_line", f"{where}: {line[:80]!r}")
                continue
            if drop := _store_row(db, line, locator, where):
                yield drop
        if damage := stream_damage(stream):
            yield Drop.at(SOURCE, f"{name}:damaged", STAGE, "corrupt_file", damage)
    if lineno == 0:
        yield Drop.at(SOURCE, f"{name}:empty", STAGE, "empty_file", f"{posts}: no rows")


def _store_row(db: sqlite3.Connection, line: bytes, locator: str, where: str) -> Drop | None:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Drop.at(SOURCE, locator, STAGE, "bad_utf8", f"{where}: {exc}")
    try:
        row = etree.fromstring(line, _ROW_PARSER)
    except etree.XMLSyntaxError as exc:
        return Drop.at(SOURCE, locator, STAGE, "malformed_row", f"{where}: {exc}")
    get = row.attrib.get
    try:
        post_id, post_type, score = int(get("Id", "")), int(get("PostTypeId", "")), int(get("Score", "0"))
        parent = int(get("ParentId", "")) if post_type == ANSWER else None
    except ValueError:
        return Drop.at(SOURCE, locator, STAGE, "bad_row", f"{where}: Id/PostTypeId/Score/ParentId not integers")
    try:
        if post_type == QUESTION:
            db.execute("INSERT INTO questions VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (post_id, get("Title", ""), html_to_text(get("Body", "")), get("Tags", ""), score,
                        get("CreationDate"), get("ContentLicense")))
        elif post_type == ANSWER:
            db.execute("INSERT INTO answers VALUES (?, ?, ?, ?)", (post_id, parent, score, html_to_text(get("Body", ""))))
    except sqlite3.IntegrityError:
        return Drop.at(SOURCE, locator, STAGE, "duplicate_id", f"{where}: post {post_id} seen before")
    return None


def _threads(db: sqlite3.Connection, name: str, site: str) -> Iterator[dict[str, Any] | Drop]:
    """Questions by id, each with its answers (integer score desc, id asc); answers to no question dropped."""
    questions = db.execute("SELECT id, title, body, tags, score, created, license FROM questions ORDER BY id")
    answers = db.cursor().execute("SELECT id, parent, score, body FROM answers ORDER BY parent, score DESC, id")
    answer = answers.fetchone()
    for qid, title, body, tags, score, created, license_ in questions:
        while answer is not None and answer[1] < qid:
            yield _orphan(name, answer)
            answer = answers.fetchone()
        thread: list[str] = []
        while answer is not None and answer[1] == qid:
            thread.append(answer[3])
            answer = answers.fetchone()
        text = f"Q: {title}\n{body}" + "".join(f"\nA: {a}" for a in thread)
        meta = {"site": site, "question_id": qid, "tags": _tags(tags), "score": score, "answer_count": len(thread)}
        yield new_document(SOURCE, f"{name}:{qid}", text, url=f"https://{site}/questions/{qid}", path=name,
                           license=license_, timestamp=created, meta=meta)
    while answer is not None:
        yield _orphan(name, answer)
        answer = answers.fetchone()


def _orphan(name: str, answer: tuple) -> Drop:
    return Drop.at(SOURCE, f"{name}:{answer[0]}", STAGE, "orphan_answer", f"answer {answer[0]}: no question {answer[1]} in the dump")


def _tags(tags: str) -> list[str]:
    """``<a><b>`` (dumps up to 2023) or ``|a|b|`` (later dumps)."""
    return re.findall(r"<([^<>]+)>", tags) if tags.startswith("<") else [t for t in tags.split("|") if t]
