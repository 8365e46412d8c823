import json

import py7zr
from lxml import etree

from corpus.inputs import part_name
from corpus.schema import Drop
from corpus.sources import stackexchange
from corpus.sources.stackexchange_html import html_to_text


def posts_xml(rows):
    """A Posts.xml as the dump writes it (one <row/> per line), built with lxml."""
    lines = [b'<?xml version="1.0" encoding="utf-8"?>', b"<posts>"]
    for attributes in rows:
        row = etree.Element("row")
        for key, value in attributes.items():
            row.set(key, str(value))
        lines.append(b"  " + etree.tostring(row))
    return b"\r\n".join(lines + [b"</posts>"])


def read(path, name, spill):
    return list(stackexchange.read_documents(path, name, spill_dir=str(spill)))


def split(records):
    return [r for r in records if isinstance(r, dict)], [r for r in records if isinstance(r, Drop)]


def test_sample_sites_become_question_threads_without_html(samples_dir, data_root):
    root = samples_dir / "stackexchange"
    sites = stackexchange.discover_inputs(root)
    assert [s.name for s in sites] == ["coffee.stackexchange.com", "conlang.meta.stackexchange.com"]
    docs, drops = split(stackexchange.read_documents(sites[0], part_name(root, sites[0])))
    assert len(docs) == 225 and drops == []  # PROVENANCE: 225 questions
    first = docs[0]
    assert first["text"].startswith("Q: How should I store whole bean coffee?\nI just got a pound of microroasted")
    assert "\nA: In a cool, dark, dry, place and whenever possible vacuum sealed." in first["text"]
    assert json.loads(first["meta"]) == {"answer_count": 3, "question_id": 1, "score": 20,
                                         "site": "coffee.stackexchange.com", "tags": ["storage", "whole-bean"]}
    assert first["url"] == "https://coffee.stackexchange.com/questions/1"
    assert sum(json.loads(d["meta"])["answer_count"] for d in docs) == 327  # PROVENANCE: 327 answers, all joined
    for doc in docs:
        assert "<p>" not in doc["text"] and "</" not in doc["text"] and "&lt;" not in doc["text"] and "&amp;" not in doc["text"]
    conlang, _ = split(stackexchange.read_documents(sites[1], part_name(root, sites[1])))
    assert len(conlang) == 54 and conlang[0]["license"] == "CC BY-SA 3.0"
    assert "do we accept questions asked in (popular) conlangs?" in conlang[0]["text"]
    assert list((data_root / "work" / "tmp").iterdir()) == []  # the spill folder is gone


def test_answers_follow_integer_score_order_even_before_their_question(tmp_path):
    site = tmp_path / "math.stackexchange.com"
    site.mkdir()
    (site / "Posts.xml").write_bytes(posts_xml([
        {"Id": 5, "PostTypeId": 2, "ParentId": 1, "Score": 9, "Body": "<p>nine</p>"},  # before its question
        {"Id": 1, "PostTypeId": 1, "Score": 3, "Title": "Order?", "Body": "<p>Which first?</p>", "Tags": "|sorting|ints|"},
        {"Id": 7, "PostTypeId": 2, "ParentId": 1, "Score": 10, "Body": "<p>ten, later id</p>"},
        {"Id": 6, "PostTypeId": 2, "ParentId": 1, "Score": 10, "Body": "<p>ten, earlier id</p>"},
        {"Id": 8, "PostTypeId": 2, "ParentId": 1, "Score": -2, "Body": "<p>negative</p>"},
        {"Id": 9, "PostTypeId": 2, "ParentId": 1, "Score": 100, "Body": "<p>hundred</p>"},
        {"Id": 2, "PostTypeId": 1, "Score": 0, "Title": "Unanswered", "Body": "<p>Anyone?</p>"},
        {"Id": 3, "PostTypeId": 4, "Score": 0, "Body": "<p>tag wiki excerpt</p>"},
    ]))
    docs, drops = split(read(site, site.name, tmp_path / "spill"))
    assert drops == []
    assert docs[0]["text"] == ("Q: Order?\nWhich first?\nA: hundred\nA: ten, earlier id\nA: ten, later id"
                               "\nA: nine\nA: negative")
    assert json.loads(docs[0]["meta"])["tags"] == ["sorting", "ints"]
    assert docs[1]["text"] == "Q: Unanswered\nAnyone?"
    assert len(docs) == 2


def test_html_bodies_keep_lists_code_and_paragraphs():
    html = ("<p>Try this &amp; that:</p>\n<ul><li>grind <em>fine</em></li><li>brew<ol><li>hot</li></ol></li></ul>"
            "<pre><code>for i in range(3):\n    print(i &lt; 2)\n</code></pre><p>Use <code>x&gt;0</code>, see <a href='u'>docs</a>.</p>")
    assert html_to_text(html) == ("Try this & that:\n\n- grind fine\n- brew\n  1. hot\n\n"
                                  "for i in range(3):\n    print(i < 2)\n\nUse x>0, see docs.")


def test_bad_rows_are_dropped_and_the_rest_goes_on(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET LOCAL FILE")
    good = posts_xml([{"Id": 1, "PostTypeId": 1, "Score": 1, "Title": "Good", "Body": "<p>fine</p>"},
                      {"Id": 4, "PostTypeId": 2, "ParentId": 1, "Score": 1, "Body": "<p>answer</p>"}]).split(b"\r\n")
    lines = [good[0], f'<!DOCTYPE posts [<!ENTITY xxe SYSTEM "file://{secret}">]>'.encode(), *good[1:3],
             b'  <row Id="2" PostTypeId="1" Score="1" Title="Broken Body="x" />',
             '  <row Id="3" PostTypeId="1" Score="1" Title="caf\xe9" Body="x" />'.encode("latin-1"),
             b'  <row Id="5" PostTypeId="1" Score="1" Title="xxe" Body="&xxe;" />',
             b'  <row Id="6" PostTypeId="2" ParentId="99" Score="1" Body="orphan" />',
             b'  <row Id="1" PostTypeId="1" Score="1" Title="again" Body="dup" />',
             b'  <row Id="7" PostTypeId="1" Score="high" Title="t" Body="b" />',
             b'  <row Id="8" PostTypeId="1" Score="2" Title="Still read" Body="&lt;p&gt;after the damage&lt;/p&gt;" />',
             good[3], b"</posts>"]
    site = tmp_path / "bad.stackexchange.com"
    site.mkdir()
    (site / "Posts.xml").write_bytes(b"\n".join(lines))
    docs, drops = split(read(site, site.name, tmp_path / "spill"))
    assert [d["text"] for d in docs] == ["Q: Good\nfine\nA: answer", "Q: Still read\nafter the damage"]
    assert [d.reason for d in drops] == ["unexpected_line", "malformed_row", "bad_utf8", "malformed_row",
                                         "duplicate_id", "bad_row", "orphan_answer"]
    assert "line 5" in drops[1].detail and "line 6" in drops[2].detail
    assert all("TOP SECRET" not in d["text"] for d in docs)
    assert all("TOP SECRET" not in d.detail for d in drops)

    empty = tmp_path / "empty.stackexchange.com"
    empty.mkdir()
    (empty / "Posts.xml").write_bytes(b"")
    assert [d.reason for d in read(empty, empty.name, tmp_path / "spill")] == ["empty_file"]
    assert list((tmp_path / "spill").iterdir()) == []


def test_site_archives_are_read_and_damaged_ones_dropped(tmp_path):
    root = tmp_path / "dumps"
    root.mkdir()
    rows = posts_xml([{"Id": 1, "PostTypeId": 1, "Score": 1, "Title": "From 7z", "Body": "<p>packed</p>"}] +
                     [{"Id": 10 + i, "PostTypeId": 2, "ParentId": 1, "Score": i, "Body": f"<p>a{i} " + "x" * 500 + "</p>"}
                      for i in range(50)])
    (tmp_path / "Posts.xml").write_bytes(rows)
    (tmp_path / "Users.xml").write_bytes(b"<users/>")
    archive = root / "beer.stackexchange.com.7z"
    with py7zr.SevenZipFile(archive, "w") as z:
        z.write(tmp_path / "Users.xml", "Users.xml")
        z.write(tmp_path / "Posts.xml", "Posts.xml")
    no_posts = root / "nope.stackexchange.com.7z"
    with py7zr.SevenZipFile(no_posts, "w") as z:
        z.write(tmp_path / "Users.xml", "Users.xml")
    cut = root / "cut.stackexchange.com.7z"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])

    assert stackexchange.posts_xml_bytes(archive) == len(rows)
    docs, drops = split(read(archive, archive.name, tmp_path / "spill"))
    assert drops == [] and len(docs) == 1
    assert docs[0]["text"].startswith("Q: From 7z\npacked\nA: a49 ") and json.loads(docs[0]["meta"])["site"] == "beer.stackexchange.com"
    assert [d.reason for d in read(no_posts, no_posts.name, tmp_path / "spill")] == ["no_posts_xml"]
    (damaged,) = read(cut, cut.name, tmp_path / "spill")
    assert damaged.reason == "corrupt_archive" and "cut.stackexchange.com.7z" in damaged.detail
    assert list((tmp_path / "spill").iterdir()) == []


def test_only_the_largest_sites_are_kept(tmp_path):
    root = tmp_path / "stackexchange"
    for site, questions in (("small.stackexchange.com", 1), ("large.stackexchange.com", 30), ("mid.stackexchange.com", 5)):
        (root / site).mkdir(parents=True)
        (root / site / "Posts.xml").write_bytes(posts_xml(
            [{"Id": i, "PostTypeId": 1, "Score": 0, "Title": "t", "Body": "b"} for i in range(1, questions + 1)]))
    (root / "stackoverflow.com-Comments.7z").write_bytes(b"not the posts table")
    ranked = stackexchange.rank_sites(stackexchange.discover_inputs(root, top_sites=10))
    assert [p.name for p in ranked] == ["large.stackexchange.com", "mid.stackexchange.com", "small.stackexchange.com"]
    assert [p.name for p in stackexchange.discover_inputs(root, top_sites=2)] == ["large.stackexchange.com", "mid.stackexchange.com"]
    assert stackexchange.site_name(root / "stackoverflow.com-Posts.7z") == "stackoverflow.com"
