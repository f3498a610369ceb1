"""The HTML owner report in a real headless Chromium (Debian's `chromium`, installed by .ci/run where
missing), driven with the playwright package (its own driver; no browser download).

The report must show the owner's items ordered by risk, and a hostile runbook must execute nothing:
no dialog, no script sentinel set, no DOM change after parsing, no javascript: link, no request
beyond the file itself. A screenshot is kept in tests/output/report.png (a CI artefact).

Set WIKICHECK_SKIP_BROWSER=1 to skip on a machine without Chromium; CI never sets it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from rules.helpers import config, crawl_check, make_wiki, md

from wikicheck.report.owners import build_reports, write_reports
from wikicheck.store import Store

CHROMIUM = os.environ.get("WIKICHECK_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]
OUTPUT = Path(__file__).parent / "output"
OWNER = "@acme/ops"

PAYLOAD_SCRIPT = "<script>document.title='pwned';window.__pwned=1;alert(1)</script>"
PAYLOAD_IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1');alert(2)\">"
CFG = {
    "rules": {"stale": {"level": "warning"}, "broken-link": {"level": "warning"}},
    # puts the raw payload into a finding's message and evidence
    "retired": [{"pattern": "<script>[^<]*</script>", "label": "inline script", "replacement": PAYLOAD_IMG}],
}

# observes the DOM from the end of parsing on: a script that runs would change it, or set a sentinel
OBSERVER = """
window.__mutations = 0;
document.addEventListener('DOMContentLoaded', () => {
  new MutationObserver(ms => { window.__mutations += ms.length; })
    .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
});
"""


@pytest.fixture(scope="module")
def browser():
    if os.environ.get("WIKICHECK_SKIP_BROWSER") == "1":
        pytest.skip("WIKICHECK_SKIP_BROWSER=1")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Watched:
    """A page with every way a script could show itself recorded."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1200, "height": 900})
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.add_init_script(OBSERVER)
        self.page.goto(url)
        self.page.wait_for_load_state("load")
        self.page.wait_for_timeout(400)  # time for onerror handlers and timers, if anything could run

    def js(self, expr: str):
        return self.page.evaluate(expr)

    def close(self) -> None:
        self.page.close()


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    from wikicheck.embed import get_embedder

    tmp = tmp_path_factory.mktemp("browser")
    wiki = make_wiki(tmp / "wiki", {
        "ops/deprecated.md": md(f'owner: "{OWNER}"; updated: 2026-10-01; status: deprecated; superseded_by: ops/current.md',
                                "# Old deploy\n\n## Deploy\n\nRun the old deploy script.\n"),
        "ops/current.md": md(f'owner: "{OWNER}"; updated: 2026-11-01', "# Deploy\n\n## Deploy\n\nRun the pipeline.\n"),
        "ops/ancient.md": md(f'owner: "{OWNER}"; updated: 2019-05-01', "# Ancient\n\n## Notes\n\nSomething old.\n"),
        "ops/links.md": md(f'owner: "{OWNER}"; updated: 2026-11-10', "# Links\n\n## See\n\nSee [gone](gone.md).\n"),
        # the hostile runbook, owned by the same owner: in the report under test
        "ops/evil.md": md(
            f"owner: '{OWNER}'; updated: 2021-02-03; status: deprecated; superseded_by: 'javascript:alert(3)'",
            f"# Evil {PAYLOAD_SCRIPT} page\n\n## Restart `{PAYLOAD_IMG}`\n\n"
            f"Click [x](javascript:alert(4)) and {PAYLOAD_SCRIPT}\n\n{PAYLOAD_IMG}\n"),
        "ops/evil.html": (
            "<html><head><meta name='last-modified' content='2020-03-04'><title>t</title></head><body><main>"
            "<h1>Ops &lt;script&gt;window.__pwned=2;alert(5)&lt;/script&gt;</h1><p>intro</p>"
            "<h2>Step &lt;img src=x onerror=alert(6)&gt;</h2><p>do <a href='javascript:alert(7)'>this</a></p>"
            "</main></body></html>"),
        "CODEOWNERS": f"/ops/ {OWNER}\n",
    })
    crawl_check(wiki, tmp / "idx", CFG, embedder=get_embedder("test-hash-64"), record=True)
    with Store.open(tmp / "idx") as st:
        # an http source's canonical URL is the site's to choose: one hostile, one fine
        with st.transaction():
            st.db.execute("update documents set url = 'javascript:alert(8)//' where path = 'ops/evil.md'")
            st.db.execute("update documents set url = 'https://wiki.example/ops/current' where path = 'ops/current.md'")
        # exposure: agents were served the ancient page, which lifts it in the ranking
        ancient = next(s["id"] for s in st.sections() if s["path"] == "ops/ancient.md" and s["heading"] == "Ancient")
        with st.transaction():
            st.db.conn.executemany("insert into guard_events (at, section_id, verdict, replaces) values (?, ?, 'warn', NULL)",
                                   [("2026-11-27T10:00:00Z", ancient)] * 7)
        import datetime as dt

        bundle = build_reports(st, config(CFG), now=dt.datetime(2026, 11, 28, 12, tzinfo=dt.timezone.utc))
    write_reports(bundle, tmp / "out", ["html"])
    report = next(r for r in bundle["reports"] if r["key"] == OWNER)
    return tmp / "out" / f"{report['slug']}.html", report


def test_owner_items_visible_and_ordered_by_risk(browser, report_file):
    path, report = report_file
    expected = [(it["section"]["path"], it["finding"]["rule"]) for it in report["items"]]
    assert len(expected) >= 6
    w = Watched(browser, path.as_uri())
    try:
        items = w.page.locator("li.item")
        assert items.count() == len(expected)
        for i in range(items.count()):
            assert items.nth(i).is_visible()
        risks = [float(x) for x in w.js("[...document.querySelectorAll('li.item')].map(e => e.dataset.risk)")]
        assert risks == sorted(risks, reverse=True) and risks[0] > risks[-1]
        ranks = w.js("[...document.querySelectorAll('li.item .pill.rank')].map(e => e.innerText)")
        assert ranks == [f"#{i}" for i in range(1, len(expected) + 1)]
        shown = w.js("[...document.querySelectorAll('li.item h3.where')].map(e => e.innerText)")
        assert [s.split(" §")[0] for s in shown] == [p for p, _ in expected]
        # exposure put the much-served ancient page's staleness above the fresher deprecated page
        rules = [r for _, r in expected]
        assert expected.index(("ops/ancient.md", "WC101")) < expected.index(("ops/deprecated.md", "WC205"))
        assert "WC302" in rules and "WC301" in rules
        # what an owner needs on each item
        first = items.nth(0).inner_text()
        for label in ("suggested action", "last changed", "owner", "risk"):
            assert label in first
        assert w.page.locator("svg.age-chart").first.is_visible()
        assert w.page.locator("svg.age-chart rect.bar").count() >= 6
        assert w.page.get_by_text("new tonight").first.is_visible()
        # the link to the newer page is an http(s) link, and only that
        hrefs = w.js("[...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))")
        assert hrefs and all(h.startswith("https://wiki.example/ops/current#") for h in hrefs), hrefs
        OUTPUT.mkdir(exist_ok=True)
        w.page.screenshot(path=str(OUTPUT / "report.png"), full_page=True)
        assert w.errors == [] and w.dialogs == []
    finally:
        w.close()
    assert (OUTPUT / "report.png").stat().st_size > 10_000


def test_hostile_runbook_executes_nothing(browser, report_file):
    path, _ = report_file
    w = Watched(browser, path.as_uri())
    try:
        title = w.page.title()
        assert w.dialogs == []
        assert w.js("window.__pwned === undefined")
        assert title.startswith("Runbook report") and title != "pwned"
        assert w.js("document.body.getAttribute('data-pwned')") is None
        assert w.js("window.__mutations") == 0
        # nothing the document carried became an element: no script, img or handler attribute anywhere
        assert w.js("document.scripts.length") == 0
        assert w.js("document.images.length") == 0
        handlers = w.js("[...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))"
                        ".filter(n => n.toLowerCase().startsWith('on'))")
        assert handlers == []
        urls = w.js("[...document.querySelectorAll('[href],[src],[action],[formaction]')]"
                    ".map(e => e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action') || '')")
        assert not [u for u in urls if "javascript" in u.lower()]
        # ...but it is all there as text, for the owner to read
        text = w.page.inner_text("body")
        assert PAYLOAD_SCRIPT in text
        assert "javascript:alert(3)" in text
        assert "ops/evil.md" in text
        # nothing was fetched but the file itself
        assert w.requests == [path.as_uri()]
        assert w.errors == []
    finally:
        w.close()


def test_the_detectors_do_detect(browser, tmp_path):
    """Control: the same page unescaped and without the CSP trips every detector the tests rely on."""
    page = tmp_path / "unsafe.html"
    page.write_text(f"<!DOCTYPE html><html><head><title>ok</title></head><body><p>x</p>{PAYLOAD_SCRIPT}{PAYLOAD_IMG}"
                    "<script>setTimeout(() => document.body.append('late'), 50)</script></body></html>")
    w = Watched(browser, page.as_uri())
    try:
        assert len(w.dialogs) >= 2
        assert w.js("window.__pwned") == 1 and w.page.title() == "pwned"
        assert w.js("document.body.getAttribute('data-pwned')") == "1"
        assert w.js("window.__mutations") > 0
    finally:
        w.close()


def test_csp_blocks_inline_script_even_if_one_slipped_through(browser, report_file, tmp_path):
    """Defence in depth: the report's own CSP stops a script that escaping would have missed."""
    path, _ = report_file
    html = path.read_text(encoding="utf-8").replace("<main>", f"<main>{PAYLOAD_SCRIPT}{PAYLOAD_IMG}", 1)
    bad = tmp_path / "slipped.html"
    bad.write_text(html, encoding="utf-8")
    shutil.copy(path, tmp_path / "copy.html")
    w = Watched(browser, bad.as_uri())
    try:
        assert w.dialogs == []
        assert w.js("window.__pwned === undefined") and w.page.title() != "pwned"
        assert w.js("document.body.getAttribute('data-pwned')") is None
        assert any("Content Security Policy" in e for e in w.errors)
    finally:
        w.close()
