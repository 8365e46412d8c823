import gzip
import json

from corpus.inputs import part_name
from corpus.schema import Drop
from corpus.sources import books


def read_all(root, path):
    return list(books.read_documents(path, part_name(root, path)))


def sample_docs(samples_dir):
    root = samples_dir / "books"
    out = {}
    for path in books.discover_inputs(root):
        (record,) = read_all(root, path)
        out[path.relative_to(root).as_posix()] = record
    return out


def test_every_sample_copy_is_its_own_document_without_the_gutenberg_licence(samples_dir):
    docs = sample_docs(samples_dir)
    assert sorted(docs) == [
        "DerikGreeff__SMS-Assignment/pg1342.txt", "DerikGreeff__SMS-Assignment/pg1661.txt",
        "clocasto__HaikuGenerator/pg1342.txt", "clocasto__HaikuGenerator/pg1661.txt",
        "farbodbj__llm-overflow/pg1661.txt", "slavaburdun__Diploma/pg42671.txt",
    ]
    assert all(isinstance(d, dict) for d in docs.values())
    assert len({d["id"] for d in docs.values()}) == 6  # copies of one book stay apart: dedup is MinHash's job
    for doc in docs.values():
        text = doc["text"]
        assert "PROJECT GUTENBERG EBOOK" not in text.upper()
        assert "Project Gutenberg License" not in text
        assert "gutenberg.org/license" not in text
        assert not text.startswith("\ufeff") and "\r" not in text


def test_header_fields_and_markers(samples_dir):
    docs = sample_docs(samples_dir)
    pride = docs["DerikGreeff__SMS-Assignment/pg1342.txt"]
    assert "It is a truth universally acknowledged, that a single man in possession" in pride["text"]
    assert pride["text"].startswith("Pride And Prejudice")
    assert pride["text"].endswith("had been the means of uniting them.")
    meta = json.loads(pride["meta"])
    assert (meta["title"], meta["author"], meta["ebook"], meta["language"]) == ("Pride and Prejudice", "Jane Austen", 1342, "English")
    # the START marker of this copy wraps onto a second line ("...SHERLOCK\nHOLMES ***")
    holmes = docs["DerikGreeff__SMS-Assignment/pg1661.txt"]
    assert holmes["text"].startswith("The Adventures of Sherlock Holmes")
    assert "HOLMES ***" not in holmes["text"]
    assert json.loads(holmes["meta"])["gutenberg_footer"] is True
    # no space after the stars: "***START OF THE PROJECT GUTENBERG EBOOK ...***"
    chapman = docs["slavaburdun__Diploma/pg42671.txt"]
    assert json.loads(chapman["meta"])["ebook"] == 42671
    assert chapman["text"].startswith("E-text prepared by Greg Weeks")


def test_header_stripped_copy_is_kept_as_it_is(samples_dir):
    doc = sample_docs(samples_dir)["clocasto__HaikuGenerator/pg1661.txt"]
    raw = (samples_dir / "books/clocasto__HaikuGenerator/pg1661.txt").read_text("utf-8-sig")
    assert doc["text"] == raw.replace("\r\n", "\n").strip()
    assert "gutenberg_header" not in json.loads(doc["meta"])


def test_older_marker_variants(tmp_path):
    path = tmp_path / "old.txt"
    path.write_text(
        "The Project Gutenberg Etext of Old Book\nTitle: Old Book\n**Welcome To The World of Free Plain Vanilla Electronic Texts**\n"
        "*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\n\nChapter I. The body of the book.\n\n"
        "End of the Project Gutenberg Etext of Old Book\nlicence text\n", "utf-8")
    (doc,) = read_all(tmp_path, path)
    assert doc["text"] == "Chapter I. The body of the book."
    assert json.loads(doc["meta"])["title"] == "Old Book"


def test_bad_inputs_are_dropped_with_a_reason_and_the_rest_goes_on(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 without a declared charset".encode("latin-1"))
    (tmp_path / "declared.txt").write_bytes(
        "Title: Caf\xe9\nCharacter set encoding: ISO-8859-1\n*** START OF THIS PROJECT GUTENBERG EBOOK CAFE ***\nLe caf\xe9 noir.\n".encode("latin-1"))
    full = gzip.compress(("A long book. " * 5000).encode())
    (tmp_path / "cut.txt.gz").write_bytes(full[: len(full) // 2])
    (tmp_path / "big.txt").write_bytes(b"x" * 2000)
    (tmp_path / "books3.jsonl").write_bytes(
        json.dumps({"text": "A Books3 style book.", "meta": {"title": "B3"}}).encode() + b"\n"
        + b"{not json\n" + b'{"text": "caf\xe9"}\n' + b'{"title": "no text"}\n' + b"\n")

    def outcome(filename, **options):
        return list(books.read_documents(tmp_path / filename, filename, **options))

    assert [d.reason for d in outcome("empty.txt")] == ["empty"]
    assert [d.reason for d in outcome("latin1.txt")] == ["bad_utf8"]
    (declared,) = outcome("declared.txt")
    assert declared["text"] == "Le café noir."
    assert json.loads(declared["meta"])["encoding"] == "ISO-8859-1"
    (cut,) = outcome("cut.txt.gz")
    assert isinstance(cut, Drop) and cut.reason == "corrupt_file" and "cut.txt.gz" in cut.detail
    assert [d.reason for d in outcome("big.txt", max_doc_bytes=1000)] == ["too_large"]
    records = outcome("books3.jsonl")
    assert records[0]["text"] == "A Books3 style book." and json.loads(records[0]["meta"])["title"] == "B3"
    assert [r.reason for r in records[1:]] == ["bad_json", "bad_utf8", "missing_text"]
    assert "line 3" in records[2].detail
    assert len({r.id if isinstance(r, Drop) else r["id"] for r in records}) == 4
