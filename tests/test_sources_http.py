"""HTTP sources (issue 6), against a real server on loopback (tests/http_fixtures.py): engines'
content and metadata, conditional re-crawls, edits and removals, redirects, limits, credentials,
the CLI, and one end-to-end check across a git source and a wiki site with the real model."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import socket
import time
from pathlib import Path

import pytest
from helpers import D2022, D2024, commit, init_repo
from http_fixtures import SAMPLE, DribbleServer, WikiServer, WikiSite, page_from_markdown, sample_pages

from wikicheck.check import run_checks
from wikicheck.config import Config
from wikicheck.crawl import crawl
from wikicheck.errors import SourceNotFound, WikicheckError
from wikicheck.guard import Guard
from wikicheck.sources import open_source
from wikicheck.sources.engines import extract, page_date
from wikicheck.sources.http import HttpSource, Scope, document_path, normalise_url
from wikicheck.store import Store, db_path_for

PGB = "platform/pgbouncer.md"
COPY = "teams/checkout/pgbouncer-restart.md"
DEAD_LINKS = 2  # sample_wiki plants two links to pages that do not exist (tests/fixtures_planted.md, case 4)

# engine: (start path, document path of platform/pgbouncer.md, its provenance)
SITES = {
    "confluence": ("/confluence/display/OPS/Home", "confluence/display/OPS/platform-pgbouncer",
                   ("2026-06-18T00:00:00Z", "Ann Author", "1", "page_meta")),
    "mediawiki": ("/mediawiki/wiki/Main_Page", "mediawiki/wiki/Platform/pgbouncer",
                  ("2026-06-18T10:15:00Z", "Ann Author", "rev", "page_meta")),
    "mkdocs": ("/mkdocs/", "mkdocs/platform/pgbouncer/", ("2026-06-18T10:15:00Z", "Ann Author", None, "page_meta")),
}
# what each engine wraps around the content; none of it may reach a section
CHROME = ("Edit this page", "Page History", "Powered by", "Be the first to like", "Add Comment", "Created by",
          "Contents", "Jump to navigation", "[edit]", "Retrieved from", "Navigation menu", "Categories",
          "Table of contents", "Last update", "Made with", "Skip to content", "Log in", "Dashboard", "\u00b6",
          "Privacy policy", "May 2, 2021", "NewPP", "Acme Runbooks")
FAST = {"rate": 0, "timeout": 30}  # generous: a loaded CI machine must not turn a slow answer into a failure


@pytest.fixture
def server():
    with WikiServer() as srv:
        yield srv


@pytest.fixture
def small():
    """A server with a few pages of the sample wiki: for the tests that crawl more than twice."""
    with WikiServer(small_site()) as srv:
        yield srv


def small_site() -> WikiSite:
    pages = sample_pages()
    keep = {"index.md", PGB, COPY, "platform/dns.md", "oncall/dns-cheatsheet.md", "payments/refunds.md",
            "payments/refund-processing.md", "sre/db-failover.md"}
    return WikiSite({k: v for k, v in pages.items() if k in keep})


def run(srv: WikiServer, path: str, index: Path, embedder, **opts):
    return crawl([srv.url(path)], index, embedder=embedder, source_options={"http": {**FAST, **opts}})


def by_path(st: Store, path: str) -> dict:
    rows = st.documents("path = ?", [path])
    assert len(rows) == 1, (path, [d["path"] for d in st.documents()])
    return rows[0]


def sections_of(st: Store, path: str) -> dict[str, dict]:
    return {s["heading"]: s for s in st.sections("path = ?", [path])}


# --------------------------------------------------------------------------- engines


@pytest.mark.parametrize("engine", ["confluence", "mediawiki", "mkdocs"])
def test_each_engine_is_recognised_and_its_chrome_dropped(engine):
    site = WikiSite()
    site.base = "http://wiki.test"
    page = site.pages[PGB]
    ex = extract(getattr(site, engine)(page), "http://wiki.test" + SITES[engine][0])
    assert (ex.engine, ex.title) == (engine, "Restart PgBouncer")
    changed, author, version, source = SITES[engine][2]
    assert (ex.meta.changed_at, ex.meta.author, ex.meta.timestamp_source) == (changed, author, source)
    assert ex.meta.version == (str(site.revision(page)) if version == "rev" else version)
    body = ex.html.split("<main>", 1)[1]
    for chrome in CHROME:
        assert chrome not in body, chrome
    assert body.count("<h1") == 1 and "<h2" in body and "pgbouncer.db.svc.cluster.local" in body


def test_docusaurus_and_generic_pages():
    site = WikiSite()
    docu = extract(site.lab_docusaurus(), "http://wiki.test/lab/docusaurus")
    assert (docu.engine, docu.title, docu.meta.changed_at, docu.meta.author, docu.meta.timestamp_source) == (
        "docusaurus", "Drain a Kafka broker", "2024-03-02T16:45:00Z", "Dana Docs", "page_meta")
    assert docu.page_meta == {"docs_version": "current"}
    for chrome in ("Edit this page", "On this page", "Version: Next", "Copy", "Last updated", "Docs", "Next"):
        assert chrome not in docu.html.split("<main>", 1)[1], chrome
    assert '<h2 id="drain">' in docu.html  # Docusaurus puts class="anchor" on headings; it must not cost the heading

    plain = extract(site.lab_plain(), "http://wiki.test/lab/plain")  # no engine, no <main>: readability
    body = plain.html.split("<main>", 1)[1]
    assert (plain.engine, plain.title, plain.meta.changed_at) == ("generic", "Rotate the TLS certificates", None)
    assert "Manual rotation" in body and "vault kv put" in body
    for chrome in ("Share", "Print", "all rights reserved", "Lab home", "Pages"):
        assert chrome not in body, chrome

    meta = extract(site.lab_meta(), "http://wiki.test/lab/meta")
    assert (meta.meta.changed_at, meta.meta.author, meta.meta.timestamp_source) == (
        "2023-05-20T08:30:00Z", "Carol Cache", "html_meta")


def test_links_are_absolute_and_non_pages_are_not_followed():
    site = WikiSite()
    site.base = "http://wiki.test"
    ex = extract(site.mediawiki(site.pages["index.md"]), "http://wiki.test/mediawiki/wiki/Main_Page")
    assert "http://wiki.test/mediawiki/wiki/Platform/pgbouncer" in ex.links
    # edit, history, special, user, category and project pages are not pages to crawl
    assert not [u for u in ex.links if "action=" in u or ":" in u.split("/wiki/")[-1] or "oldid" in u]
    cf = extract(site.confluence(site.pages[PGB]), "http://wiki.test/confluence/display/OPS/platform-pgbouncer")
    assert not [u for u in cf.links if u.endswith(".action") or ".action?" in u and "viewpage" not in u or "/~" in u]
    assert 'href="http://wiki.test/confluence/display/OPS/' in cf.html  # content links made absolute


@pytest.mark.parametrize("text, expected", [
    ("18 June 2026, at 10:15", "2026-06-18T10:15:00Z"),
    ("Jun 18, 2026", "2026-06-18T00:00:00Z"),
    ("2026-06-18T10:15:00.000Z", "2026-06-18T10:15:00Z"),
    ("Thu, 18 Jun 2026 10:15:00 GMT", "2026-06-18T10:15:00Z"),
    ("yesterday", None),
])
def test_page_dates(text, expected):
    assert page_date(text) == expected


@pytest.mark.parametrize("url, expected", [
    ("HTTP://Wiki.Example:80/a/b?x=1#frag", "http://wiki.example/a/b?x=1"),
    ("https://user:pw@wiki.example:8443", "https://wiki.example:8443/"),
    ("ftp://wiki.example/a", None),
    ("javascript:alert(1)", None),
])
def test_normalise_url(url, expected):
    assert normalise_url(url) == expected


def test_scope_is_the_start_folder_unless_more_is_allowed():
    s = Scope("http://wiki.test/confluence/display/OPS/Home", ["docs.test", "wiki.test:8080/other/"])
    assert s.allows("http://wiki.test/confluence/display/OPS/platform-dns")
    assert s.why_not("http://wiki.test/confluence/pages/viewpage.action") == (
        "/confluence/pages/viewpage.action is outside the allowed path prefix /confluence/display/OPS/")
    assert s.why_not("http://evil.test/x") == "host evil.test is not allowed (add --allow-host evil.test)"
    assert s.allows("https://docs.test:444/anything") and s.allows("http://wiki.test:8080/other/x")
    assert not s.allows("http://wiki.test:8080/confluence/display/OPS/x")
    assert document_path("http://wiki.test/a%20b/c?x=1") == "a b/c?x=1" and document_path("http://wiki.test/") == "/"


# --------------------------------------------------------------------------- crawling a wiki


@pytest.mark.parametrize("engine", list(SITES))
def test_sections_have_provenance_from_page_metadata(server, index_dir, fake_embedder, engine):
    start, path, (changed, author, version, source) = SITES[engine]
    s = run(server, start, index_dir, fake_embedder)
    assert s.sources[0]["kind"] == "http" and s.pages_failed == 0
    assert len(s.warnings) == DEAD_LINKS and all("404 Not Found (linked from" in w["message"] for w in s.warnings)
    page = server.site.pages[PGB]
    if version == "rev":
        version = str(server.site.revision(page))
    with Store.open(index_dir) as st:
        doc = by_path(st, path)
        assert (doc["url"], doc["title"], doc["owner"], doc["kind"]) == (
            server.url("/" + path), "Restart PgBouncer", "@acme/platform-team", "html")
        assert (doc["changed_at"], doc["author"], doc["commit"], doc["timestamp_source"]) == (
            changed, author, version, source)
        secs = sections_of(st, path)
        assert {"Restart PgBouncer", "Overview", "When to restart", "Restart", "Configuration changes", "Verify",
                "Escalation"} == set(secs)
        for sec in secs.values():
            assert (sec["changed_at"], sec["author"], sec["commit"], sec["timestamp_source"]) == (
                changed, author, version, source)
            assert sec["heading_path"][0] == "Restart PgBouncer"
            for chrome in CHROME:
                assert chrome not in sec["text"], (sec["heading"], chrome)
        assert "kubectl -n db rollout restart deploy/pgbouncer" in secs["Restart"]["text"]
        copy = next(d for d in st.documents() if re.search(r"teams.checkout.pgbouncer-restart", d["path"], re.I))
        assert copy["changed_at"].startswith("2022-09-08")
        assert len(st.documents()) == s.documents == len(server.site.pages) + (engine == "mkdocs")  # + the orphan
        assert st.counts()["section_versions"] == st.counts()["sections"]


@pytest.mark.parametrize("engine", list(SITES))
def test_recrawl_downloads_nothing_that_did_not_change(server, index_dir, fake_embedder, engine):
    start = SITES[engine][0]
    first = run(server, start, index_dir, fake_embedder)
    assert server.ok() >= first.documents
    server.reset()
    again = run(server, start, index_dir, fake_embedder)
    assert server.ok() == 0, sorted(p for (p, status), n in server.counts.items() if status == 200)
    assert (again.documents, again.documents_changed, again.documents_removed) == (first.documents, [], [])
    assert (again.sections_unchanged, again.sections_new, again.sections_changed, again.sections_embedded) == (
        first.sections_new, 0, 0, 0)
    pages = [r for r in server.requests if r["status"] == 304]
    assert len(pages) >= first.documents
    # MediaWiki sends no ETag: the crawler asks with If-Modified-Since; the others with If-None-Match
    key = "ims" if engine == "mediawiki" else "inm"
    assert all(r[key] for r in pages)
    with Store.open(index_dir) as st:
        assert st.counts()["section_versions"] == first.versions_added


def test_edited_page_is_picked_up_and_its_previous_version_kept(small, index_dir, fake_embedder):
    start, path, _ = SITES["confluence"]
    run(small, start, index_dir, fake_embedder)
    when = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc)
    small.site.edit(PGB, "The restart itself takes about 10 s.", "The restart itself takes about 30 s.", when)
    small.reset()
    s = run(small, start, index_dir, fake_embedder)
    assert small.ok() == 1 and small.ok("/" + path) == 1  # the edited page and nothing else
    assert (s.documents_changed, s.sections_changed, s.versions_added) == ([path], 1, 1)
    with Store.open(index_dir) as st:
        secs = sections_of(st, path)
        restart = secs["Restart"]
        assert "about 30 s" in restart["text"]
        assert (restart["changed_at"], restart["author"], restart["commit"]) == (
            "2026-11-20T00:00:00Z", "Bob Builder", "2")
        old, new = st.versions(restart["id"])
        assert "about 10 s" in old["text"] and "about 30 s" in new["text"]
        assert (old["valid_from"], old["valid_to"], old["commit"], old["origin"]) == (
            "2026-06-18T00:00:00Z", "2026-11-20T00:00:00Z", "1", "crawl")
        assert (new["valid_from"], new["valid_to"], new["commit"], new["author"]) == (
            "2026-11-20T00:00:00Z", None, "2", "Bob Builder")
        assert len(st.versions(secs["Verify"]["id"])) == 1  # unchanged sections keep their one version


@pytest.mark.parametrize("status", [404, 410])
def test_page_gone_is_marked_removed_and_its_history_kept(small, index_dir, fake_embedder, status):
    start = SITES["mkdocs"][0]
    run(small, start, index_dir, fake_embedder)
    small.site.remove("payments/refunds.md", status)
    small.reset()
    s = run(small, start, index_dir, fake_embedder)
    path = "mkdocs/payments/refunds/"
    assert s.documents_removed == [path] and s.pages_failed == 0
    assert not [w for w in s.warnings if w["path"] == path]  # removal is reported as a removal, not a warning
    # every page's nav lost an entry, so every page answered 200, yet none counts as changed: the
    # fingerprint is of the extracted content, not of the chrome
    assert s.documents_changed == []
    with Store.open(index_dir) as st:
        assert by_path(st, path)["removed_at"] is not None and path not in [d["path"] for d in st.documents()]
        versions = st.db.execute("select count(*), count(valid_to) from section_versions where path = ?",
                                 [path]).fetchone()
        assert versions[0] > 0 and versions[0] == versions[1]  # kept, and closed


def test_failed_page_keeps_its_last_crawled_version(small, index_dir, fake_embedder):
    start, path, _ = SITES["mkdocs"]
    run(small, start, index_dir, fake_embedder)
    small.site.slow_pages.add(PGB)
    small.site.slow_seconds = 5
    s = run(small, start, index_dir, fake_embedder, timeout=0.5)
    assert s.pages_failed == 2 and s.documents_removed == []  # both URLs of the page: dir/ and dir/index.html
    for p in (path, path + "index.html"):
        (msg,) = [w["message"] for w in s.warnings if w["path"] == p]
        assert re.fullmatch(re.escape(small.url("/" + p)) + r": timed out after 0\.5 s( \(linked from .*\))?; "
                            "the page keeps its last crawled version", msg), msg
    with Store.open(index_dir) as st:
        assert by_path(st, path)["removed_at"] is None and len(sections_of(st, path)) == 7


def test_redirects_and_canonical_urls_make_one_document(small, index_dir, fake_embedder):
    pid = small.site.page_id(small.site.pages[PGB])
    # viewpage.action redirects to the display URL, outside the start folder: allowed with a path prefix
    s = run(small, f"/confluence/pages/viewpage.action?pageId={pid}", index_dir, fake_embedder,
            allow_hosts=[f"127.0.0.1:{small.port}/confluence/"])
    with Store.open(index_dir) as st:
        paths = [d["path"] for d in st.documents()]
        assert "confluence/display/OPS/platform-pgbouncer" in paths
        assert not [p for p in paths if "viewpage" in p]
        assert len(paths) == len(set(paths)) == s.documents == len(small.site.pages)

    # MkDocs serves each page at dir/ and at dir/index.html; the canonical link makes them one
    index2 = index_dir.parent / "mkdocs"
    run(small, "/mkdocs/", index2, fake_embedder)
    assert small.ok("/mkdocs/platform/pgbouncer/index.html") == 1
    with Store.open(index2) as st:
        assert [d["path"] for d in st.documents() if "platform/pgbouncer" in d["path"]] == ["mkdocs/platform/pgbouncer/"]
        assert by_path(st, "mkdocs/only-in-sitemap/")["title"] == "Orphan page"  # found through sitemap.xml only


def test_the_awkward_cases_of_a_real_site(server, index_dir, fake_embedder):
    server.site.slow_seconds = 10
    t = time.perf_counter()
    s = run(server, "/lab/", index_dir, fake_embedder, timeout=0.5, max_bytes=1_000_000)
    assert time.perf_counter() - t < server.site.slow_seconds  # the slow page did not hold the crawl up
    port = server.port
    got = {w["path"]: w["message"].split(": ", 1)[1] for w in s.warnings}
    assert got == {
        "lab/away": f"redirect to http://localhost:{port}/secret/page not followed: host localhost:{port} is not "
                    f"allowed (add --allow-host localhost:{port}) (linked from lab/)",
        "lab/ftp": "redirect to ftp://files.acme.internal/runbooks/ refused: only http and https URLs are crawled "
                   "(linked from lab/)",
        "lab/loop-a": "redirect loop (linked from lab/)",
        "lab/slow": "timed out after 0.5 s (linked from lab/)",
        "lab/huge": "skipped, more than the 1.0 MB limit (raise --max-bytes-per-page) (linked from lab/)",
        "lab/missing": "HTTP 404 Not Found (linked from lab/)",
    }
    assert s.pages_failed == 5  # the dead link is a dead link, not a failure
    assert server.hits("/secret") == 0  # the redirect to the host that is not allowed was not followed
    assert server.hits("/lab/manual.pdf") == 0  # not a page: never asked for
    assert {r["path"].split("/")[1] for r in server.requests} == {"lab"}  # never outside the start folder
    with Store.open(index_dir) as st:
        got_docs = {d["path"]: (d["changed_at"], d["author"], d["timestamp_source"]) for d in st.documents()}
    assert got_docs == {
        "lab/": (None, None, None),
        "lab/plain": ("2024-01-02T09:00:00Z", None, "http_header"),  # also reached as /lab/old-plain (301)
        "lab/meta": ("2023-05-20T08:30:00Z", "Carol Cache", "html_meta"),
        "lab/docusaurus": ("2024-03-02T16:45:00Z", "Dana Docs", "page_meta"),
    }


def test_max_redirects(server):
    src = HttpSource(server.url("/lab/"), "lab", max_redirects=2, rate=0)
    ok = src.visit(server.url("/lab/chain-2"), {})
    assert (ok.outcome, ok.final, ok.page.title if ok.page else None) == (
        "page", server.url("/lab/plain"), "Rotate the TLS certificates")
    too_far = src.visit(server.url("/lab/chain-3"), {})
    assert (too_far.outcome, too_far.message) == ("failed", "more than 2 redirects")


def test_max_pages_stops_the_crawl_without_removing_what_it_did_not_reach(small, index_dir, fake_embedder):
    start = SITES["mkdocs"][0]
    s = run(small, start, index_dir, fake_embedder, max_pages=5)
    assert s.documents == 5 and any("stopped after 5 pages (--max-pages)" in w["message"] for w in s.warnings)
    full = run(small, start, index_dir, fake_embedder)
    assert full.documents == len(small.site.pages) + 1
    again = run(small, start, index_dir, fake_embedder, max_pages=5)
    assert again.documents_removed == [] and again.documents == full.documents


def test_concurrency_and_rate_limits(index_dir, fake_embedder):
    site = small_site()
    site.delay = 0.15
    with WikiServer(site) as srv:
        run(srv, "/mkdocs/", index_dir, fake_embedder, concurrency=3)
        assert 2 <= srv.max_inflight <= 3
    with WikiServer(small_site()) as srv:
        t0 = time.monotonic()
        run(srv, "/mkdocs/", index_dir.parent / "rate", fake_embedder, concurrency=4, rate=20)
        elapsed = time.monotonic() - t0
        n = len(srv.requests)
        assert n >= 8
        # 20 a second: n requests cannot take less than (n - 1) / 20 s. Only this lower bound is
        # asserted; the gaps the server observes vary with scheduling on a loaded machine.
        assert elapsed >= 0.05 * (n - 1) * 0.95, (elapsed, n)


# --------------------------------------------------------------------------- credentials and errors


def test_credentials_from_the_environment_are_sent_and_never_stored(index_dir, fake_embedder, monkeypatch):
    site = small_site()
    site.require_auth = "Bearer s3cr3t-t0ken"
    with WikiServer(site) as srv:
        with pytest.raises(SourceNotFound, match=r"HTTP 401 Unauthorized; set WIKICHECK_HTTP_TOKEN"):
            run(srv, "/mkdocs/", index_dir, fake_embedder)
        monkeypatch.setenv("WIKICHECK_HTTP_TOKEN", "s3cr3t-t0ken")
        s = run(srv, "/mkdocs/", index_dir, fake_embedder)
        assert s.documents == len(site.pages) + 1 and s.pages_failed == 0
        assert {r["auth"] for r in srv.requests if r["status"] != 401} == {"Bearer s3cr3t-t0ken"}
    db = db_path_for(index_dir)
    stored = b"".join(p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name))
    assert b"s3cr3t" not in stored and "s3cr3t" not in json.dumps(s.to_json())


def test_credentials_from_netrc(index_dir, fake_embedder, monkeypatch, tmp_path):
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine 127.0.0.1\n  login ann\n  password hunter2\n")
    netrc_file.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc_file))
    site = small_site()
    site.require_auth = "Basic " + base64.b64encode(b"ann:hunter2").decode()
    with WikiServer(site) as srv:
        assert run(srv, "/mkdocs/", index_dir, fake_embedder).documents == len(site.pages) + 1


def test_broken_netrc_is_an_error_that_does_not_quote_it(monkeypatch, tmp_path):
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine 127.0.0.1 login ann password hunter2 s3cret-token\n")
    monkeypatch.setenv("NETRC", str(netrc_file))
    with pytest.raises(WikicheckError) as e:
        open_source("http://127.0.0.1:1/wiki/")
    assert re.fullmatch(re.escape(str(netrc_file)) + r": cannot parse line \d", str(e.value)), str(e.value)


def test_credentials_in_the_url_and_other_schemes_are_refused():
    with pytest.raises(SourceNotFound) as e:
        open_source("http://ann:hunter2@127.0.0.1:1/wiki/")
    assert "credentials in the URL are not accepted" in str(e.value) and "hunter2" not in str(e.value)
    with pytest.raises(SourceNotFound, match="only http and https URLs can be crawled"):
        HttpSource("ftp://wiki.test/", "x")


def test_start_url_that_answers_404_is_an_error(server, index_dir, fake_embedder):
    with pytest.raises(SourceNotFound, match=r"/mkdocs/nowhere/: HTTP 404 Not Found; check the start URL"):
        run(server, "/mkdocs/nowhere/", index_dir, fake_embedder)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_unreachable_start_url_exits_3(cli, index_dir):
    port = free_port()
    r = cli("crawl", f"http://127.0.0.1:{port}/wiki/", "--index", index_dir, "--model", "test-hash-64")
    assert r.exit_code == 3
    assert r.stderr.splitlines() == [
        f"error: http://127.0.0.1:{port}/wiki/: cannot connect to 127.0.0.1:{port} (Connection refused); "
        "check the URL and that the site is reachable from here"]
    assert not index_dir.exists()  # nothing was created


def test_cli_http_options(server, cli, index_dir):
    server.site.slow_seconds = 10
    port = server.port
    r = cli("crawl", server.url("/lab/"), "--index", index_dir, "--model", "test-hash-64", "--json",
            "--timeout", "0.5", "--max-bytes-per-page", "1000000", "--rate", "0", "--concurrency", "2",
            "--allow-host", f"localhost:{port}", "--max-pages", "50")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    # localhost is allowed now: the redirect is followed, and that page is crawled
    assert server.hits("/secret") == 1 and out["pages_failed"] == 4
    assert "secret/page" in out["documents"]["changed"]
    text = cli("crawl", server.url("/lab/"), "--index", index_dir, "--model", "test-hash-64", "--timeout", "0.5",
               "--rate", "0", "--max-bytes-per-page", "1000000")
    assert text.exit_code == 0 and "; 5 pages failed; " in text.stdout


def test_http_cache_round_trip(store):
    store.ensure_source("wiki", "http://wiki.test/", "http")
    rows = {"http://wiki.test/a": {"kind": "page", "path": "a", "doc_url": "http://wiki.test/a", "etag": '"1"',
                                   "last_modified": None, "fingerprint": "http:ab", "links": ["http://wiki.test/b"],
                                   "fetched_at": "2026-01-01T00:00:00Z"}}
    store.replace_http_cache("wiki", rows)
    got = store.http_cache("wiki")
    assert got["http://wiki.test/a"]["links"] == ["http://wiki.test/b"] and got["http://wiki.test/a"]["etag"] == '"1"'
    store.replace_http_cache("wiki", {})
    assert store.http_cache("wiki") == {}


# --------------------------------------------------------------------------- end to end


def test_stale_wiki_copy_of_a_git_runbook_is_found_across_sources(tmp_path, real_embedder):
    """A platform runbook in git (changed in 2024) and the checkout team's 2022 copy of it on their
    MediaWiki: one index, and check points the copy at the git page."""
    current = (SAMPLE / PGB).read_text(encoding="utf-8")
    team_copy = (SAMPLE / COPY).read_text(encoding="utf-8")
    old = team_copy.replace("> Copy of the platform runbook, kept here for the checkout on-call.\n\n", "").replace(
        '"@acme/checkout-team"', '"@acme/platform-team"')
    repo = init_repo(tmp_path / "runbooks")
    commit(repo, {PGB: old, "platform/dns.md": (SAMPLE / "platform/dns.md").read_text(encoding="utf-8")}, D2022)
    commit(repo, {PGB: current}, D2024, message="pgbouncer runs in Kubernetes now")

    pages = {rel: page_from_markdown(rel, (SAMPLE / rel).read_text(encoding="utf-8"))
             for rel in ("index.md", COPY, "oncall/dns-cheatsheet.md")}
    with WikiServer(WikiSite(pages)) as srv:
        index = tmp_path / "index"
        s = crawl([str(repo), srv.url("/mediawiki/wiki/Main_Page")], index, embedder=real_embedder,
                  source_options={"http": {"rate": 0}})  # per kind: the git source takes no http options
    assert [x["kind"] for x in s.sources] == ["git", "http"] and s.pages_failed == 0
    wiki_path = "mediawiki/wiki/Teams/checkout/pgbouncer-restart"
    with Store.open(index) as st:
        assert by_path(st, wiki_path)["timestamp_source"] == "page_meta"
        result = run_checks(st, Config(), now=dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc))
    stale = [f for f in result.findings if f.path == wiki_path and f.kind in ("superseded", "contradicted")]
    # the sections whose commands and hosts changed, as in the sample wiki's own end-to-end test
    assert {f.heading for f in stale} == {"Restart", "Configuration changes", "Verify"}, [
        (f.rule, f.path, f.heading) for f in result.findings]
    git_name = s.sources[0]["name"]
    for f in stale:
        assert f.rule in ("WC201", "WC202", "WC203") and f.level == "error"
        assert f.newer and (f.newer["source"], f.newer["path"], f.newer["heading"]) == (git_name, PGB, f.heading)
        assert f.newer["changed_at"] == D2024.replace("+00:00", "Z")
    # and the guard hands an agent the git page instead of the wiki copy
    results = Guard(index, embedder=real_embedder).search("how do I restart pgbouncer", k=3)
    assert results and not [r for r in results if r.section["path"] == wiki_path and r.verdict == "ok"
                            and r.section["heading"] in {f.heading for f in stale}]
    replaced = [(r.verdict, r.section["source"], r.section["heading"], r.replaced["path"], r.replaced["heading"])
                for r in results if r.replaced]
    # the stale Restart gives its place to the git page's; a section the copy repeats word for word (a
    # duplicate, info) may give its place to the git page's too, never the other way round
    assert ("ok", git_name, "Restart", wiki_path, "Restart") in replaced
    assert all(v == "ok" and src == git_name and old == wiki_path and h == oh for v, src, h, old, oh in replaced)


@pytest.mark.parametrize("link", [
    "/docs/../private/x.html", "/docs/%2e%2e/private/x.html", "/docs/%2E%2E/private/x.html",
    "/docs/%2E%2E%2Fprivate/x.html", "/docs/..%2fprivate/x.html", "/docs/sub/../../private/x.html",
])
def test_dot_segments_and_escapes_never_leave_the_allowed_prefix(link):
    """Issue 11 item 9: links that climb out of the start URL's folder, written with dot segments or
    percent escapes, were fetched and indexed as docs/../private/...; they are outside the scope."""
    from wikicheck.sources.http import Scope, normalise_url

    scope = Scope("http://127.0.0.1:8000/docs/prefix.html")
    url = normalise_url("http://127.0.0.1:8000" + link)
    assert url is not None and not scope.allows(url), url
    assert "/docs/" not in url.split("127.0.0.1:8000", 1)[1] or "%2" in url  # dot segments resolved


def test_dot_segments_inside_the_prefix_stay_allowed():
    from wikicheck.sources.http import Scope, normalise_url

    scope = Scope("http://127.0.0.1:8000/docs/prefix.html")
    assert normalise_url("http://127.0.0.1:8000/docs/a/../b.html") == "http://127.0.0.1:8000/docs/b.html"
    assert scope.allows(normalise_url("http://127.0.0.1:8000/docs/./a/%7Eb.html"))


@pytest.mark.parametrize("where", ["status", "headers", "chunked"])
def test_a_server_that_dribbles_its_answer_is_cut_off_at_the_deadline(index_dir, fake_embedder, where):
    """Issue 11 point 10: a socket timeout bounds each recv() only, so a server sending one byte every half
    second held a request (and the index lock) for as long as it liked while the warning said "timed out
    after 1 s". Each request has one deadline for connect, status line, headers and body."""
    with DribbleServer(where, interval=0.5, seconds=60) as srv:
        t = time.monotonic()
        s = crawl([srv.url("/")], index_dir, embedder=fake_embedder,
                  source_options={"http": {"rate": 0, "timeout": 1}})
        took = time.monotonic() - t
        assert srv.drip_started.is_set()
    assert took < 30, f"the crawl waited {took:.0f} s for a server that dribbles for 60 s"
    assert s.pages_failed == 1
    assert [(w["path"], w["message"]) for w in s.warnings] == [
        ("drip", f"{srv.url('/drip')}: timed out after 1 s (linked from /)")]
    with Store.open(index_dir) as st:
        assert sorted(d["path"] for d in st.documents()) == ["/", "ok-1", "ok-2"]
        assert {s["heading"] for s in st.sections()} >= {"Alpha page", "Bravo page"}
