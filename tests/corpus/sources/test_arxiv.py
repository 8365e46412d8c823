import gzip
import io
import json
import os
import tarfile

import pytest

from corpus.inputs import part_name
from corpus.schema import Drop
from corpus.sources import arxiv
from corpus.sources.arxiv_latex import clean_paper, expand_macros, extract_macros, remove_comments

PREAMBLE = "\\documentclass{article}\n\\usepackage{amsmath}\n\\title{T}\n\\begin{document}\n\\maketitle\n"


def sample_docs(samples_dir):
    root = samples_dir / "arxiv"
    out = {}
    for path in arxiv.discover_inputs(root):
        records = list(arxiv.read_documents(path, part_name(root, path)))
        assert all(isinstance(r, dict) for r in records), records
        (out[path.name],) = records
    return out


def test_sample_papers_are_joined_cut_and_expanded(samples_dir):
    docs = sample_docs(samples_dir)
    assert sorted(docs) == ["astropy-v2.0", "emcee-paper", "numpy-paper"]
    for doc in docs.values():
        text = doc["text"]
        # the preamble (class, packages, title, abstract) is gone; headings are plain lines
        assert "\\section" not in text and "\\subsection" not in text
        for preamble_only in ("\\documentclass", "\\usepackage", "\\newcommand", "\\begin{document}", "\\maketitle"):
            assert preamble_only not in text
        for back_matter in ("\\bibliography{", "\\bibitem", "thebibliography", "\\appendix"):
            assert back_matter not in text

    astropy = docs["astropy-v2.0"]["text"]
    assert "All modern astronomical research makes use of software in some way." in astropy
    assert "Group%20Award" not in astropy and "TODO: uncomment references" not in astropy  # comments
    assert "Approximately 30\\%" in astropy  # an escaped percent sign is text
    assert "\\astropy " not in astropy and "Astropy\\xspace Project" in astropy  # \newcommand{\astropy}{Astropy\xspace}
    assert "\\texttt{astropy}\\xspace" in astropy  # \astropypkg -> \package{astropy} -> \texttt{#1}\xspace
    meta = json.loads(docs["astropy-v2.0"]["meta"])
    assert meta["files"] == ["main.tex", "author.tex", "registry.tex"] and meta["encoding"] == "utf-8"

    emcee = docs["emcee-paper"]["text"]
    assert "Probabilistic data analysis---including Bayesian inference---has" in emcee
    assert "%" not in emcee  # every comment in ms.tex was a real comment
    assert "\\project{" not in emcee and "{\\sffamily emcee}" in emcee  # \this -> \project{\thisplain}

    numpy = docs["numpy-paper"]
    assert json.loads(numpy["meta"])["main_file"] == "paper.tex"  # pulls in more than _main.tex
    assert "The NumPy array is a data structure that efficiently stores" in numpy["text"]  # from \input{body}
    assert len({d["id"] for d in docs.values()}) == 3


def test_macros_with_arguments_and_optional_defaults_are_expanded():
    source = (
        "\\newcommand{\\norm}[1]{\\lVert #1 \\rVert}\n"
        "\\newcommand{\\pair}[2][default]{(#1, #2)}\n"
        "\\newcommand*\\R{\\mathbb{R}}\n"
        "\\def\\half#1{#1/2}\n"
        "\\providecommand{\\R}{not this}\n"
        "\\section{Intro}\n$\\norm{\\frac{a}{b}} + \\norm x$, \\pair{b}, \\pair[a]{b}, \\R, \\half{3}, \\Rx stays.\n"
    )
    text, uses = clean_paper(source, max_macro_depth=8, max_chars=10_000)
    assert text == ("Intro\n\n$\\lVert \\frac{a}{b} \\rVert + \\lVert x \\rVert$, (default, b), (a, b), "
                    "\\mathbb{R}, 3/2, \\Rx stays.")
    assert uses == 6


def test_recursive_macros_stop_and_runaway_expansion_is_an_error():
    stripped, macros = extract_macros("\\def\\loop{x\\loop}\\newcommand{\\twice}[1]{#1#1}")
    assert stripped == "" and set(macros) == {"loop", "twice"}
    text, _ = expand_macros("\\loop", macros, max_depth=3, max_chars=1000)
    assert text == "xxx\\loop"
    with pytest.raises(ValueError):
        expand_macros("\\twice{\\twice{\\twice{\\twice{abcdefgh}}}}", macros, max_depth=10, max_chars=100)


def test_comments_keep_the_character_before_and_escaped_percent():
    source = "% a full-line comment\n50\\% of x% inline\nline break\\\\% comment after \\\\\n  % indented\nend"
    assert remove_comments(source) == "50\\% of x\nline break\\\\\nend"


@pytest.mark.parametrize("command, title", [("\\subparagraph{Deep}", "Deep"), ("\\chapter*{One}", "One"),
                                            ("\\part[short]{Two {\\em parts}}", "Two {\\em parts}")])
def test_every_sectioning_command_starts_the_body(command, title):
    text, _ = clean_paper(f"{PREAMBLE}preamble words\n{command}\nbody\n", 8, 10_000)
    assert text == f"{title}\n\nbody"


@pytest.mark.parametrize("back", ["\\appendix\n\\section{A}", "\\begin{thebibliography}{9}\\bibitem{x} X\\end{thebibliography}",
                                  "\\begin{references}\nR\n\\end{references}", "\\bibliography{refs}"])
def test_back_matter_is_cut(back):
    text, _ = clean_paper(f"{PREAMBLE}\\section{{S}}\nkept\n{back}\nafter\n", 8, 10_000)
    assert text == "S\n\nkept"


def write_paper(folder, files):
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())


def test_inputs_are_followed_inside_the_paper_and_refused_outside(tmp_path):
    root = tmp_path / "arxiv"
    (tmp_path / "secret.tex").write_text("SECRET OUTSIDE THE PAPER")
    write_paper(root / "paper", {
        "main.tex": PREAMBLE + "\\section{S}\n\\input{sections/one}\n\\include{two.tex}\n\\input{../secret}\n"
                    "\\input{" + str(tmp_path / "secret") + "}\n\\input{missing}\n\\end{document}",
        "sections/one.tex": "first part",
        "two.tex": "second part \\input{sections/one}",
    })
    (root / "paper" / "link.tex").symlink_to(tmp_path / "secret.tex")
    records = list(arxiv.read_documents(root / "paper", "paper"))
    docs = [r for r in records if isinstance(r, dict)]
    drops = [r for r in records if isinstance(r, Drop)]
    assert len(docs) == 1
    assert "first part" in docs[0]["text"] and "second part first part" in docs[0]["text"]
    assert "SECRET" not in docs[0]["text"]
    assert [d.reason for d in drops] == ["unsafe_member", "include_refused", "include_refused"]
    assert json.loads(docs[0]["meta"])["missing_inputs"] == ["missing"]


def test_no_section_empty_and_latin1(tmp_path):
    write_paper(tmp_path, {"nosec/main.tex": PREAMBLE + "just text\n\\end{document}", "empty/main.tex": "",
                           "latin/main.tex": (PREAMBLE + "\\section{Caf\xe9}\nna\xefve\n").encode("latin-1")})
    assert [r.reason for r in arxiv.read_documents(tmp_path / "nosec", "nosec")] == ["no_section"]
    assert [r.reason for r in arxiv.read_documents(tmp_path / "empty", "empty")] == ["no_section"]
    (doc,) = arxiv.read_documents(tmp_path / "latin", "latin")
    assert doc["text"] == "Café\n\nnaïve"
    assert json.loads(doc["meta"])["encoding"] == "latin-1"


def add_member(tar, name, data=b"", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def paper_tex(title):
    return (PREAMBLE + f"\\section{{{title}}}\nText of {title}.\n\\end{{document}}\n").encode()


def test_tar_of_papers_refuses_unsafe_members_and_writes_nothing(tmp_path):
    archive = tmp_path / "in" / "papers.tar"
    archive.parent.mkdir()
    with tarfile.open(archive, "w") as tar:
        add_member(tar, "alpha/main.tex", paper_tex("Alpha"))
        add_member(tar, "alpha/fig.png", b"\x89PNG")
        add_member(tar, "../evil.tex", b"evil")
        add_member(tar, "/abs.tex", b"abs")
        add_member(tar, "beta/link.tex", kind=tarfile.SYMTYPE, link="/etc/passwd")
        add_member(tar, "beta/hard.tex", kind=tarfile.LNKTYPE, link="alpha/main.tex")
        add_member(tar, "beta/main.tex", paper_tex("Beta"))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert arxiv.discover_inputs(tmp_path / "in") == [archive]
    records = list(arxiv.read_documents(archive, "papers.tar"))
    docs = {json.loads(r["meta"])["paper"]: r["text"] for r in records if isinstance(r, dict)}
    assert docs == {"alpha": "Alpha\n\nText of Alpha.", "beta": "Beta\n\nText of Beta."}
    unsafe = [r for r in records if isinstance(r, Drop)]
    assert [d.reason for d in unsafe] == ["unsafe_member"] * 4
    assert "'../evil.tex'" in unsafe[0].detail and "/etc/passwd" in unsafe[2].detail
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not (tmp_path / "evil.tex").exists() and not os.path.exists("/abs.tex")


def gz_tar(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            add_member(tar, name, data)
    return gzip.compress(buffer.getvalue())


def test_arxiv_bulk_tar_and_damaged_archives(tmp_path):
    good = gz_tar({"ms.tex": paper_tex("Good"), "figure.eps": b"%!PS" * 1000})
    single = gzip.compress(paper_tex("Single"))
    damaged = gz_tar({"ms.tex": paper_tex("Cut") * 200})
    bulk = tmp_path / "arXiv_src_1801_001.tar"
    with tarfile.open(bulk, "w") as tar:
        add_member(tar, "1801/1801.00001.gz", good)
        add_member(tar, "1801/1801.00002.gz", damaged[: len(damaged) // 2])
        add_member(tar, "1801/1801.00003.gz", single)
        add_member(tar, "1801/1801.00004.gz", gzip.compress(b"%PDF-1.4 only a pdf"))
    records = list(arxiv.read_documents(bulk, bulk.name))
    docs = [r for r in records if isinstance(r, dict)]
    assert [d["text"] for d in docs] == ["Good\n\nText of Good.", "Single\n\nText of Single."]
    assert [d["url"] for d in docs] == ["https://arxiv.org/abs/1801.00001", "https://arxiv.org/abs/1801.00003"]
    assert [(r.reason, "1801.0000" in r.detail) for r in records if isinstance(r, Drop)] == [
        ("corrupt_archive", True), ("no_tex_source", True)]

    cut_tar_gz = tmp_path / "2101.00001.tar.gz"
    cut_tar_gz.write_bytes(good[: len(good) // 3])
    assert [r.reason for r in arxiv.read_documents(cut_tar_gz, cut_tar_gz.name)] == ["corrupt_archive"]

    cut_tar = tmp_path / "cut.tar"
    cut_tar.write_bytes(bulk.read_bytes()[:700])  # inside the first member's data
    reasons = [r.reason for r in arxiv.read_documents(cut_tar, cut_tar.name)]
    assert reasons and set(reasons) == {"corrupt_archive"}

    empty = tmp_path / "empty.tar.gz"
    empty.write_bytes(b"")
    assert [r.reason for r in arxiv.read_documents(empty, empty.name)] == ["empty_file"]
