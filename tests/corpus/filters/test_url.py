"""URL filter and dirty-word count: UT1 blocklists built in the test (real lists are never committed), served
on the loopback, and the exact reason real sample pages get."""
from __future__ import annotations

import io
import socket
import tarfile
from pathlib import Path

import pyarrow as pa
import pytest

from corpus.filters import url as url_filter
from corpus.filters.wordlists import TEXT_TOKEN, URL_TOKEN, PhraseMatcher, fetch_list, read_entries
from corpus.inputs import HostUnreachable
from corpus.schema import documents_to_batch
from tests.httpserver import serve
from tests.quality_models.test_kenlm_model import sample_docs

# UT1's layout: blacklists/<category>/{domains,urls}, and a category that is a symlink to another
UT1 = {
    "blacklists/adult/domains": "# adult domains\npsb556.com\nwww.robins-agency.com\n.allosurf.net\n",
    "blacklists/adult/urls": "qsl.net/vk2jem\n",
    "blacklists/gambling/domains": "0615235.com\npsb556.com\n",
    "blacklists/gambling/urls": "",
}


def ut1_archive(path: Path, files=UT1, links=(("blacklists/porn", "adult"),)) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


@pytest.fixture(scope="module")
def web_pages(samples_dir) -> dict[str, dict]:
    """The real Common Crawl sample pages, read by the project's reader, by URL."""
    return {d["url"]: d for docs in sample_docs("commoncrawl", str(samples_dir)).values() for d in docs}


def verdicts(flt: url_filter.UrlFilter, docs: list[dict]) -> list[tuple[str | None, str | None]]:
    kept, dropped = flt(documents_to_batch(docs))
    by_id = {r["id"]: (r["reason"], r["detail"]) for r in dropped.to_pylist()}
    assert kept.num_rows + dropped.num_rows == len(docs)
    assert set(kept.column("id").to_pylist()).isdisjoint(by_id)
    return [by_id.get(d["id"], (None, None)) for d in docs]


def test_ut1_domains_subdomains_and_url_folders_on_real_pages(tmp_path, web_pages):
    lists = url_filter.read_ut1(ut1_archive(tmp_path / "blacklists.tar.gz"), ["adult", "gambling"])
    assert lists.domains == {"psb556.com": "adult", "robins-agency.com": "adult", "allosurf.net": "adult",
                             "0615235.com": "gambling"}  # the first category listed wins; www. and a leading dot go
    assert lists.urls == {"qsl.net/vk2jem": "adult"}
    flt = url_filter.UrlFilter("commoncrawl", lists)
    urls = ["http://035.psb556.com/24/i/u_1090813/article.html",  # a subdomain of a listed domain
            "http://robins-agency.com/teens/teen-orgy.html",  # listed with www., crawled without
            "http://www.allosurf.net/spots-kitesurf-en-france.html",  # crawled with www.
            "http://0615235.com/02mjqjo%7Bibotij2.btq?odmbtt=106&tdmbtt=121",
            "https://www.qsl.net/vk2jem/swlogs.htm",  # a page inside a listed folder
            "http://www.archive.org/details/movies"]
    assert verdicts(flt, [web_pages[u] for u in urls]) == [
        ("url_blocklist:adult", "domain=psb556.com"),
        ("url_blocklist:adult", "domain=robins-agency.com"),
        ("url_blocklist:adult", "domain=allosurf.net"),
        ("url_blocklist:gambling", "domain=0615235.com"),
        ("url_blocklist:adult", "url=qsl.net/vk2jem"),
        (None, None)]


def test_a_listed_folder_does_not_match_a_sibling_or_a_longer_name():
    lists = url_filter.Blocklists(domains={"example.com": "adult"}, urls={"qsl.net/vk2jem": "adult"})
    assert lists.match("https://qsl.net/vk2jem") == ("adult", "url=qsl.net/vk2jem")
    assert lists.match("https://qsl.net:8080/VK2JEM/a/b.htm?x=1") == ("adult", "url=qsl.net/vk2jem")
    assert lists.match("https://qsl.net/vk2jemx/a.htm") is None
    assert lists.match("https://qsl.net/other/vk2jem") is None
    assert lists.match("https://notexample.com/") is None  # a domain matches at a label boundary only
    assert lists.match("https://a.b.example.com./") == ("adult", "domain=example.com")
    assert lists.match("not a url") is None


def test_a_category_symlink_reads_its_target_and_a_missing_category_is_an_error(tmp_path):
    archive = ut1_archive(tmp_path / "b.tar.gz")
    assert url_filter.read_ut1(archive, ["porn"]).urls == {"qsl.net/vk2jem": "porn"}
    with pytest.raises(ValueError, match=r"no UT1 list for category adlut \(expected <category>/domains"):
        url_filter.read_ut1(archive, ["adlut"])


def test_an_extracted_folder_reads_like_the_archive(tmp_path):
    with tarfile.open(ut1_archive(tmp_path / "b.tar.gz")) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    assert url_filter.read_ut1(tmp_path / "x", ["adult", "gambling"]) == \
        url_filter.read_ut1(tmp_path / "b.tar.gz", ["adult", "gambling"])


def test_banned_soft_banned_and_subwords_in_real_urls(web_pages):
    flt = url_filter.UrlFilter("commoncrawl", banned_words=["orgy", "rape"], soft_banned_words=["queer", "artists", "drag"],
                               banned_subwords=["kitesurf"])
    urls = ["http://robins-agency.com/teens/teen-orgy.html",
            "http://bitchmagazine.org/tag/rape-11",
            "http://bitchmagazine.org/tag/queer-artists",  # two soft-banned words
            "http://bitchmagazine.org/tag/queer-10",  # one
            "http://www.allosurf.net/spots-kitesurf-en-france.html",
            "http://bitchmagazine.org/tag/drag"]
    assert verdicts(flt, [web_pages[u] for u in urls]) == [
        ("url_banned_word", "word=orgy"),
        ("url_banned_word", "word=rape"),
        ("url_soft_banned_words", "words=artists,queer"),
        (None, None),
        ("url_banned_subword", "subword=kitesurf"),
        (None, None)]


def test_banned_words_match_whole_url_tokens_and_phrases():
    m = PhraseMatcher(["ass", "big tits", "Sex"], URL_TOKEN)
    assert m.find("http://example.com/class/assessment") == []
    assert m.find("http://example.com/big-tits/ass.html?SEX=1") == ["big tits", "ass", "sex"]
    # text tokens: Unicode letters and digits, case-folded; "_" separates like punctuation
    assert PhraseMatcher(["école"], TEXT_TOKEN).find("L'École, l'école_x; écoles") == ["école", "école"]
    # entries that tokenize alike are one phrase, named by the first (each occurrence counted once)
    assert PhraseMatcher(["big tits", "Big-Tits", "ass"], URL_TOKEN).find("http://x.com/big-tits/ass") == ["big tits", "ass"]
    # overlapping phrases all count, ordered by where they end, the longer first
    assert PhraseMatcher(["a", "a a", "b", "a b"], TEXT_TOKEN).find("A a b") == ["a", "a a", "a", "a b", "b"]


def test_dirty_word_count_on_real_page_text(web_pages):
    flt = url_filter.UrlFilter("commoncrawl", dirty_words=["sex", "porn", "rape"])
    assert flt.max_dirty_words == 2
    urls = ["http://www.archive.org/details/movies",  # "porn" 5 times
            "http://bitchmagazine.org/tag/rape-11",
            "http://data.gov.uk/data/site-usage",  # "sex" twice: at the threshold, kept
            "http://data.gov.uk/about"]
    assert verdicts(flt, [web_pages[u] for u in urls]) == [
        ("dirty_words", "count=5 > 2; porn:5"),
        ("dirty_words", "count=33 > 2; rape:32,sex:1"),
        (None, None),
        (None, None)]


def test_the_url_is_judged_before_the_text_and_a_page_without_url_on_its_text(web_pages):
    page = web_pages["http://www.archive.org/details/movies"]
    flt = url_filter.UrlFilter("commoncrawl", banned_words=["movies"], dirty_words=["porn"])
    assert verdicts(flt, [page, dict(page, id="commoncrawl-nourl", url=None), dict(page, id="c2", url=None, text="fine")]) == [
        ("url_banned_word", "word=movies"), ("dirty_words", "count=5 > 2; porn:5"), (None, None)]


def test_lists_come_through_the_download_machinery_on_the_loopback(tmp_path, web_pages):
    served = tmp_path / "served"
    served.mkdir()
    ut1_archive(served / "blacklists.tar.gz")
    (served / "dirty.txt").write_text("# a word list in LDNOOBW's format\nPorn\n\nporn\n")
    with serve(served) as (base, hits):
        archive = fetch_list(f"{base}/blacklists.tar.gz", tmp_path / "cache")
        words = read_entries(fetch_list(f"{base}/dirty.txt", tmp_path / "cache"))
        assert fetch_list(f"{base}/blacklists.tar.gz", tmp_path / "cache") == archive  # cached: fetched once
    assert [h[0] for h in hits] == ["blacklists.tar.gz", "dirty.txt"]
    assert archive.is_relative_to(tmp_path / "cache") and words == ["porn"]
    flt = url_filter.UrlFilter("commoncrawl", url_filter.read_ut1(archive, ["adult"]), dirty_words=words)
    assert verdicts(flt, [web_pages["http://035.psb556.com/24/i/u_1090813/article.html"],
                          web_pages["http://www.archive.org/details/movies"]]) == [
        ("url_blocklist:adult", "domain=psb556.com"), ("dirty_words", "count=5 > 2; porn:5")]


def test_an_unreachable_list_host_fails_at_once(tmp_path):
    with socket.socket() as s:  # a loopback port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HostUnreachable, match=r"host 127\.0\.0\.1 is unreachable \(connection refused"):
        fetch_list(f"http://127.0.0.1:{port}/blacklists.tar.gz", tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        fetch_list(tmp_path / "nope.txt", tmp_path / "cache")


def test_judge_keeps_every_column_and_batch_order(web_pages):
    docs = list(web_pages.values())[:50]
    flt = url_filter.UrlFilter("commoncrawl", banned_words=["tag"])
    kept, dropped = flt(documents_to_batch(docs))
    assert kept.schema == documents_to_batch(docs).schema
    assert kept.column("id").to_pylist() == [d["id"] for d in docs if "/tag/" not in d["url"]]
    assert dropped.column("reason").to_pylist() == ["url_banned_word"] * sum("/tag/" in d["url"] for d in docs)
    assert pa.compute.all(pa.compute.equal(dropped.column("stage"), "url_filter")).as_py()


def test_settings_load_every_list_from_paths(tmp_path, web_pages):
    for name, text in {"banned.txt": "orgy\n", "soft.txt": "queer\nartists\n", "sub.txt": "kitesurf\n",
                       "dirty.txt": "porn\n"}.items():
        (tmp_path / name).write_text(text)
    settings = url_filter.UrlFilterSettings(
        blocklists=str(ut1_archive(tmp_path / "b.tar.gz")), categories=("gambling",),
        banned_words=str(tmp_path / "banned.txt"), soft_banned_words=str(tmp_path / "soft.txt"),
        banned_subwords=str(tmp_path / "sub.txt"), dirty_words=str(tmp_path / "dirty.txt"))
    flt, sizes, content = url_filter.load_url_filter(settings, "commoncrawl", tmp_path / "cache")
    assert sizes == {"blocklisted_domains": 2, "blocklisted_urls": 0, "banned_words": 1, "soft_banned_words": 2,
                     "banned_subwords": 1, "dirty_words": 1}
    urls = ["http://035.psb556.com/24/i/u_1090813/article.html", "http://robins-agency.com/teens/teen-orgy.html",
            "http://bitchmagazine.org/tag/queer-artists", "http://www.allosurf.net/spots-kitesurf-en-france.html",
            "http://www.archive.org/details/movies", "http://data.gov.uk/about"]
    assert [r for r, _ in verdicts(flt, [web_pages[u] for u in urls])] == [
        "url_blocklist:gambling", "url_banned_word", "url_soft_banned_words", "url_banned_subword", "dirty_words", None]
    empty, sizes, empty_content = url_filter.load_url_filter(url_filter.UrlFilterSettings(), "commoncrawl", tmp_path / "cache")
    assert set(sizes.values()) == {0} and verdicts(empty, [web_pages[u] for u in urls]) == [(None, None)] * 6
    (tmp_path / "dirty.txt").write_text("porn\nxxx\n")  # a list changed in place: another fingerprint
    assert url_filter.load_url_filter(settings, "commoncrawl", tmp_path / "cache")[2] not in (content, empty_content)
