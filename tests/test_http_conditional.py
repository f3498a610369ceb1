"""HTTP crawl of markdown pages and of the files a site serves beside them (issue 12).

A docs folder served as files: markdown pages (text/markdown, text/plain as raw.githubusercontent.com
sends it, or no Content-Type at all) are pages, revalidated with conditional requests like HTML pages;
CODEOWNERS, wikicheck.toml, robots.txt, sitemap.xml, JSON and images are not pages, linked or not.
"""

from __future__ import annotations

import datetime as dt

import pytest
from http_fixtures import FileServer, FileSite

from wikicheck.crawl import crawl
from wikicheck.store import Store

FAST = {"rate": 0, "timeout": 30}
WHEN = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.timezone.utc)

INDEX = """<!DOCTYPE html><html><head><title>Runbooks</title></head><body><main>
<h1>Runbooks</h1>
<ul>
<li><a href="runbooks/restart.md">Restart</a></li>
<li><a href="runbooks/failover.md">Failover</a></li>
<li><a href="runbooks/drain.md">Drain</a></li>
<li><a href="CODEOWNERS">Owners</a></li>
<li><a href="wikicheck.toml">Config</a></li>
<li><a href=".github/CODEOWNERS">Owners (GitHub)</a></li>
<li><a href="robots.txt">robots</a> <a href="sitemap.xml">sitemap</a> <a href="data.json">data</a>
<a href="logo.png">logo</a> <a href="pyproject.toml">project</a></li>
</ul>
<p>Every runbook here is owned by the platform team.</p>
</main></body></html>
"""

RESTART = """---
title: Restart the API
updated: 2025-11-04
owner: "@acme/platform"
---
# Restart the API

## Steps

Run `kubectl -n api rollout restart deploy/api` and wait for the pods.
See [failover](failover.md) when the restart does not help, and [the owners](../CODEOWNERS).

## Verify

Check that `curl -f https://api.acme.internal/health` answers 200.
"""

FAILOVER = """# Fail over the database

## When

When the primary is down for more than five minutes.

## How

Run `patronictl failover --candidate db-02` and tell the on-call channel.
"""

DRAIN = """# Drain a node

Run `kubectl drain node-1 --ignore-daemonsets` before the maintenance window.
"""

CODEOWNERS = "* @acme/platform\n/runbooks/ @acme/sre\n"
TOML = '[owners]\n"runbooks/" = "@acme/sre"\n'


def site() -> FileSite:
    return FileSite({
        "/docs/": (INDEX, "text/html; charset=utf-8"),
        "/docs/runbooks/restart.md": (RESTART, "text/markdown; charset=utf-8"),
        "/docs/runbooks/failover.md": (FAILOVER, "text/plain; charset=utf-8"),  # as raw.githubusercontent.com
        "/docs/runbooks/drain.md": (DRAIN, ""),  # no Content-Type at all
        "/docs/CODEOWNERS": (CODEOWNERS, ""),
        "/docs/.github/CODEOWNERS": (CODEOWNERS, "text/plain"),
        "/docs/wikicheck.toml": (TOML, ""),
        "/docs/pyproject.toml": ("[project]\nname = 'docs'\n", "text/html"),  # a misconfigured server
        "/docs/robots.txt": ("User-agent: *\nAllow: /\n", "text/plain"),
        "/docs/data.json": ('{"a": 1}', "application/json"),
        "/docs/logo.png": (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png"),
    }, when=WHEN)


PAGES = {"docs/": "html", "docs/runbooks/restart.md": "markdown", "docs/runbooks/failover.md": "markdown",
         "docs/runbooks/drain.md": "markdown"}
NOT_PAGES = ("/docs/CODEOWNERS", "/docs/.github/CODEOWNERS", "/docs/wikicheck.toml", "/docs/pyproject.toml",
             "/docs/robots.txt", "/docs/data.json", "/docs/logo.png")


@pytest.fixture
def files():
    with FileServer(site()) as srv:
        yield srv


def run(srv: FileServer, index, embedder):
    return crawl([srv.url("/docs/")], index, embedder=embedder, source_options={"http": FAST})


def sections(st: Store, path: str) -> dict[str, str]:
    return {s["heading"]: s["text"] for s in st.sections("path = ?", [path])}


def test_markdown_pages_over_http_are_documents_with_their_dates(files, index_dir, fake_embedder):
    s = run(files, index_dir, fake_embedder)
    with Store.open(index_dir) as st:
        docs = {d["path"]: d for d in st.documents()}
        assert {p: d["kind"] for p, d in docs.items()} == PAGES
        assert s.documents == len(PAGES)
        restart = docs["docs/runbooks/restart.md"]
        # front matter dates the page; a page without it is dated by its Last-Modified header
        assert (restart["changed_at"], restart["timestamp_source"]) == ("2025-11-04T00:00:00Z", "front_matter")
        failover = docs["docs/runbooks/failover.md"]
        assert (failover["changed_at"], failover["timestamp_source"]) == ("2026-03-02T09:30:00Z", "http_header")
        assert "kubectl -n api rollout restart deploy/api" in sections(st, "docs/runbooks/restart.md")["Steps"]
        assert "patronictl failover" in sections(st, "docs/runbooks/failover.md")["How"]


def test_second_crawl_revalidates_every_markdown_page_and_downloads_none(files, index_dir, fake_embedder):
    first = run(files, index_dir, fake_embedder)
    files.reset()
    again = run(files, index_dir, fake_embedder)
    assert files.ok() == 0, sorted(p for (p, status), n in files.counts.items() if status == 200)
    for path in PAGES:
        asked = [r for r in files.requests if r["path"] == "/" + path]
        assert len(asked) == 1 and asked[0]["status"] == 304 and asked[0]["inm"] and asked[0]["ims"], (path, asked)
    assert (again.documents, again.documents_changed, again.documents_removed) == (first.documents, [], [])
    assert (again.sections_new, again.sections_changed, again.sections_embedded) == (0, 0, 0)


def test_a_changed_markdown_page_is_fetched_and_updated(files, index_dir, fake_embedder):
    run(files, index_dir, fake_embedder)
    later = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.timezone.utc)
    files.site.edit("/docs/runbooks/failover.md", FAILOVER.replace("db-02", "db-03"), later)
    files.reset()
    s = run(files, index_dir, fake_embedder)
    assert files.ok() == 1 and files.ok("/docs/runbooks/failover.md") == 1  # that page and nothing else
    assert (s.documents_changed, s.sections_changed) == (["docs/runbooks/failover.md"], 1)
    with Store.open(index_dir) as st:
        assert "--candidate db-03" in sections(st, "docs/runbooks/failover.md")["How"]
        doc = next(d for d in st.documents() if d["path"] == "docs/runbooks/failover.md")
        assert doc["changed_at"] == "2026-05-01T08:00:00Z"


def test_codeowners_config_and_other_files_are_not_pages(files, index_dir, fake_embedder):
    run(files, index_dir, fake_embedder)
    run(files, index_dir, fake_embedder)
    with Store.open(index_dir) as st:
        paths = {d["path"] for d in st.db.query("select path from documents")}  # removed ones too
        assert paths == set(PAGES)
        cached = st.db.query("select url, path from http_cache where kind = 'page'")
        assert {r["path"] for r in cached} == set(PAGES), cached
    # linked from a page (and from a markdown page), yet never asked for: not pages, whatever their type
    assert not [p for p in NOT_PAGES if files.hits(p)], dict(files.counts)
