"""Document -> Sections: headings, code, front matter, anchors, spans, provenance; HTML main content."""

from __future__ import annotations

import pytest

from wikicheck.dates import parse_date
from wikicheck.model import Document, Provenance, section_hashes
from wikicheck.parse import html_metadata, iter_sections, slugify, split_front_matter


def md(text: str, path: str = "page.md", **kw):
    return iter_sections(Document(source="wiki", path=path, kind="markdown", text=text, fingerprint="f"), **kw)


def html(text: str, path: str = "page.html"):
    return iter_sections(Document(source="wiki", path=path, kind="html", text=text, fingerprint="f"))


def outline(sections) -> list[tuple]:
    return [(s.heading_path, s.level, s.line_start, s.line_end) for s in sections]


# --------------------------------------------------------------------------- headings and spans


@pytest.mark.parametrize("text, expected", [
    ("# A\n\na\n\n## B\n\nb\n",
     [(["A"], 1, 1, 3), (["A", "B"], 2, 5, 7)]),
    # setext headings: = is level 1, - is level 2; the span starts at the heading text
    ("A\n===\n\na\n\nB\n---\n\nb\n",
     [(["A"], 1, 1, 4), (["A", "B"], 2, 6, 9)]),
    # mixed, and a deeper heading popping back to a shallower one
    ("# A\n\n## B\n\nb\n\n### C\n\nc\n\nD\n-\n\nd\n",
     [(["A"], 1, 1, 1), (["A", "B"], 2, 3, 5), (["A", "B", "C"], 3, 7, 9), (["A", "D"], 2, 11, 14)]),
    # trailing blank lines are not part of a span
    ("# A\n\na\n\n\n\n# B\nb\n\n\n",
     [(["A"], 1, 1, 3), (["B"], 1, 7, 8)]),
    # H5 and H6 stay inside their parent section (max level 4 by default)
    ("# A\n\n##### deep\n\ntext\n\n###### deeper\n",
     [(["A"], 1, 1, 7)]),
    # '#' without a space is not a heading; an escaped one neither
    ("# A\n\n#hashtag\n\n\\# not heading\n", [(["A"], 1, 1, 5)]),
])
def test_headings_start_sections(text, expected):
    assert outline(md(text)) == expected


def test_max_heading_level_is_configurable():
    text = "# A\n\n## B\n\n### C\n\nc\n"
    assert [s.heading_path for s in md(text, max_level=2)] == [["A"], ["A", "B"]]
    assert "c" in md(text, max_level=2)[1].text
    assert [s.heading_path for s in md(text, max_level=3)] == [["A"], ["A", "B"], ["A", "B", "C"]]


@pytest.mark.parametrize("fence", ["```", "~~~", "````"])
def test_fenced_code_stays_in_its_section_verbatim(fence):
    text = (f"# Restart\n\nFirst:\n\n{fence}bash\n# drain the node first\n  kubectl drain node-1\n\n"
            f"## not a heading either\n{fence}\n\nDone.\n\n# Next\n\nx\n")
    secs = md(text)
    assert [s.heading for s in secs] == ["Restart", "Next"]
    restart = secs[0]
    # the code keeps its indentation, its blank line and its '#' lines
    assert "# drain the node first\n  kubectl drain node-1\n\n## not a heading either" in restart.text
    assert restart.text.endswith("Done.")
    assert (restart.line_start, restart.line_end) == (1, 12)
    assert f"{fence}bash" in restart.raw


def test_indented_code_block_is_kept():
    secs = md("# A\n\nText:\n\n    # not a heading\n    echo hi\n\nAfter.\n")
    assert [s.heading for s in secs] == ["A"]
    text = secs[0].text
    assert text.startswith("Text:\n\n") and text.endswith("\n\nAfter.")
    assert "# not a heading\necho hi" in text


def test_lists_tables_quotes_become_plain_text():
    text = "# A\n\n- one\n- two\n\n1. first\n2. second\n\n> quoted\n\n| k | v |\n|---|---|\n| a | b |\n"
    assert md(text)[0].text == "- one\n\n- two\n\n1. first\n\n2. second\n\n> quoted\n\nk | v\n\na | b"


# --------------------------------------------------------------------------- front matter and preamble


FM = "---\ntitle: Deploy\nupdated: 2024-03-02\nowner: '@team-sre'\n---\n"


def test_front_matter_is_parsed_and_stripped():
    meta, nlines, err = split_front_matter(FM + "# A\n\na\n")
    assert (nlines, err) == (5, None)
    assert meta == {"title": "Deploy", "updated": "2024-03-02T00:00:00Z", "owner": "@team-sre"}
    secs = md(FM + "# A\n\na\n")
    assert outline(secs) == [(["A"], 1, 6, 8)]
    assert all("team-sre" not in s.text and "team-sre" not in s.raw for s in secs)


def test_preamble_after_front_matter_excludes_the_front_matter():
    # regression: the preamble's span and raw text used to start at the '---' line
    secs = md(FM + "Read this first.\n\n# A\n\na\n")
    pre = secs[0]
    assert (pre.heading, pre.heading_path, pre.level, pre.anchor) == ("", [], 0, "")
    assert pre.text == "Read this first."
    assert (pre.line_start, pre.line_end, pre.raw) == (6, 6, "Read this first.")


@pytest.mark.parametrize("text, preamble", [
    ("Intro line.\n\n# A\n\na\n", "Intro line."),
    ("\n\n   \n# A\n\na\n", None),  # blank only: no preamble section
    ("<!-- generated, do not edit -->\n\n# A\n", None),  # a comment only: no preamble section
    ("Just text, no headings.\n", "Just text, no headings."),
])
def test_preamble_is_a_section_only_when_it_has_text(text, preamble):
    secs = md(text)
    got = secs[0].text if secs and secs[0].heading_path == [] else None
    assert got == preamble


@pytest.mark.parametrize("text, lines, error", [
    ("---\ntitle: [unclosed\n---\n# A\n", 3, "broken front matter at line 2"),
    ("---\n- a\n- b\n---\n# A\n", 4, "not a mapping"),
    ("---\ntitle: x\n# A\n\nno closing line\n", 0, "never closed"),
    ("---\n---\n# A\n", 2, None),
    ("# A\n---\nx: 1\n---\n", 0, None),  # only a block at the very top is front matter
])
def test_split_front_matter_errors(text, lines, error):
    meta, n, err = split_front_matter(text)
    assert n == lines
    assert meta == {}
    if error is None:
        assert err is None
    else:
        assert error in err


def test_broken_front_matter_lines_never_leak_into_sections():
    secs = md("---\ntitle: [unclosed\nowner: x\n---\n# A\n\nbody\n")
    assert outline(secs) == [(["A"], 1, 5, 7)]
    assert secs[0].text == "body"


# --------------------------------------------------------------------------- ordinals, ids, anchors


def test_ordinal_counts_equal_heading_paths():
    secs = md("# A\n\n## Steps\n\nx\n\n# B\n\n## Steps\n\ny\n\n## Steps\n\nz\n")
    assert [(s.heading_path, s.ordinal) for s in secs] == [
        (["A"], 0), (["A", "Steps"], 0), (["B"], 0), (["B", "Steps"], 0), (["B", "Steps"], 1)]
    assert len({s.id for s in secs}) == 5


def test_section_ids_survive_edits_elsewhere_on_the_page():
    before = {s.heading: s.id for s in md("# A\n\na\n\n# B\n\nb\n")}
    after = {s.heading: s.id for s in md("Intro.\n\n# New\n\nn\n\n# A\n\nchanged a\n\n# B\n\nb\n")}
    assert after["A"] == before["A"] and after["B"] == before["B"]
    # ... but depend on source and path
    other = md("# A\n\na\n", path="other.md")[0]
    assert other.id != before["A"]


@pytest.mark.parametrize("heading, slug", [
    ("Deploy the API", "deploy-the-api"),
    ("What's new?", "whats-new"),
    ("C++ & Go", "c--go"),
    ("step_1: build", "step_1-build"),
    ("Émigré Über", "émigré-über"),
    ("  Spaces  around ", "spaces--around"),
    ("v1.2.3 (beta)", "v123-beta"),
    ("`kubectl` usage", "kubectl-usage"),
])
def test_slugify_like_github(heading, slug):
    assert slugify(heading) == slug


@pytest.mark.parametrize("headings, anchors", [
    (["Setup", "Setup", "Setup"], ["setup", "setup-1", "setup-2"]),
    (["Setup", "Other", "setup"], ["setup", "other", "setup-1"]),
    # regression: a literal "foo-1" heading after two "foo" got the same anchor as the second
    (["foo", "foo", "foo-1"], ["foo", "foo-1", "foo-1-1"]),
    (["foo-1", "foo", "foo"], ["foo-1", "foo", "foo-2"]),
])
def test_anchors_are_unique_with_numeric_suffixes(headings, anchors):
    secs = md("".join(f"## {h}\n\ntext\n\n" for h in headings))
    assert [s.anchor for s in secs] == anchors


# --------------------------------------------------------------------------- hashes


def test_hashes_ignore_white_space_but_not_words_or_headings():
    a = md("# A\n\nrun the\nthing   now\n")[0]
    rewrapped = md("# A\n\nrun the thing\nnow\n\n")[0]
    edited = md("# A\n\nrun the thing later\n")[0]
    renamed = md("# B\n\nrun the\nthing   now\n")[0]
    assert (rewrapped.content_hash, rewrapped.body_hash) == (a.content_hash, a.body_hash)
    assert edited.body_hash != a.body_hash and edited.content_hash != a.content_hash
    assert renamed.body_hash == a.body_hash and renamed.content_hash != a.content_hash
    assert section_hashes(["A"], a.text) == (a.content_hash, a.body_hash)


def test_embedding_input_has_heading_path_and_text():
    s = md("# Deploy\n\n## Steps\n\nrun it\n")[1]
    assert s.embedding_input() == "Deploy > Steps\n\nrun it"


# --------------------------------------------------------------------------- provenance


def _p(day: str, commit: str) -> Provenance:
    return Provenance(f"2024-01-{day}T00:00:00Z", f"author-{commit}", commit, "git")


def test_section_provenance_is_the_newest_line():
    text = "# A\n\nold\nnew\n\n# B\n\nb\n"
    blame = [_p("01", "c1"), _p("01", "c1"), _p("01", "c1"), _p("09", "c3"), _p("01", "c1"),
             _p("05", "c2"), _p("01", "c1"), _p("01", "c1"), _p("01", "c1")]
    doc = Document(source="w", path="p.md", kind="markdown", text=text, fingerprint="f",
                   provenance=Provenance("2024-01-09T00:00:00Z", "x", "c3", "git"), line_provenance=blame)
    a, b = iter_sections(doc)
    assert (a.provenance.commit, a.provenance.changed_at, a.provenance.author) == ("c3", "2024-01-09T00:00:00Z", "author-c3")
    assert b.provenance.commit == "c2"


def test_preamble_provenance_ignores_front_matter_lines():
    # only the front matter changed (c2); the preamble text is from c1
    text = "---\nupdated: 2024-01-05\n---\nIntro.\n\n# A\n\na\n"
    blame = [_p("05", "c2"), _p("05", "c2"), _p("05", "c2"), _p("01", "c1"), _p("01", "c1"),
             _p("01", "c1"), _p("01", "c1"), _p("01", "c1"), _p("01", "c1")]
    doc = Document(source="w", path="p.md", kind="markdown", text=text, fingerprint="f", line_provenance=blame)
    assert iter_sections(doc)[0].provenance.commit == "c1"


def test_section_provenance_without_blame_is_the_page_provenance():
    page = Provenance("2023-01-01T00:00:00Z", "ann", None, "front_matter")
    doc = Document(source="w", path="p.md", kind="markdown", text="# A\n\na\n\n# B\n\nb\n", fingerprint="f",
                   provenance=page)
    secs = iter_sections(doc)
    assert [s.provenance for s in secs] == [page, page]
    assert secs[0].provenance is not page  # a copy, not shared


# --------------------------------------------------------------------------- HTML

PAGE = """<!DOCTYPE html>
<html>
<head>
<title>Deploy guide</title>
<style>body { color: red }</style>
<script>var fromScript = "SCRIPTTEXT";</script>
</head>
<body>
<header><a href="/">Wiki home HEADERTEXT</a></header>
<nav><ul><li>NAVTEXT one</li><li>NAVTEXT two</li></ul></nav>
<main>
<h1>Deploy guide</h1>
<p>Intro paragraph.</p>
<h2>Steps</h2>
<pre><code>  kubectl rollout restart deploy/api
# a comment, not a heading

  done</code></pre>
<p>Run <code>make</code> first.</p>
<h2>Rollback</h2>
<ul><li>Step one</li><li>Step two</li></ul>
<aside>ASIDETEXT</aside>
</main>
<footer>FOOTERTEXT</footer>
<script>trackingCode("SCRIPTTEXT")</script>
</body>
</html>
"""


def test_html_main_content_only():
    secs = html(PAGE)
    assert [(s.heading_path, s.line_start) for s in secs] == [
        (["Deploy guide"], 12), (["Deploy guide", "Steps"], 14), (["Deploy guide", "Rollback"], 20)]
    assert secs[0].line_end == 13
    everything = "\n".join(s.text for s in secs)
    for chrome in ("SCRIPTTEXT", "NAVTEXT", "HEADERTEXT", "FOOTERTEXT", "ASIDETEXT", "color: red"):
        assert chrome not in everything
    assert secs[0].text == "Intro paragraph."
    assert secs[2].text == "- Step one\n\n- Step two"


def test_html_pre_is_verbatim():
    text = html(PAGE)[1].text
    code = "  kubectl rollout restart deploy/api\n# a comment, not a heading\n\n  done"
    assert code in text
    assert text.endswith("\n\nRun `make` first.") and text.index(code) < text.index("Run `make`")


def test_html_without_main_drops_page_chrome():
    page = ("<html><body>\n<header><span>BRAND</span></header>\n<nav>NAV</nav>\n<div role=\"navigation\">ROLE</div>\n"
            "<h1>Title</h1>\n<p>Body text</p>\n<footer>FOOT</footer>\n</body></html>\n")
    secs = html(page)
    assert [(s.heading, s.text, s.line_start) for s in secs] == [("Title", "Body text", 5)]


def test_html_article_header_with_the_title_is_content():
    page = "<html><body><article>\n<header><h1>Title</h1></header>\n<p>Body</p>\n</article></body></html>"
    assert [(s.heading, s.text) for s in html(page)] == [("Title", "Body")]


def test_html_on_one_line_splits_sections_by_position():
    # regression: minified pages (all on one line) put every paragraph in the last section
    page = "<html><body><main><h2>A</h2><p>alpha</p><h2>B</h2><p>beta</p><h2>C</h2><p>gamma</p></main></body></html>"
    assert [(s.heading, s.text, s.line_start) for s in html(page)] == [
        ("A", "alpha", 1), ("B", "beta", 1), ("C", "gamma", 1)]


def test_html_duplicate_headings_get_ordinals_and_anchors():
    page = "<main>\n<h2>Steps</h2>\n<p>a</p>\n<h2>Steps</h2>\n<p>b</p>\n</main>\n"
    assert [(s.ordinal, s.anchor, s.text) for s in html(page)] == [(0, "steps", "a"), (1, "steps-1", "b")]


@pytest.mark.parametrize("head, body, updated, source", [
    ('<meta name="last-modified" content="2023-04-05T06:07:08Z">', "", "2023-04-05T06:07:08Z", "meta last-modified"),
    ('<meta property="article:modified_time" content="2024-03-02T10:00:00+01:00">', "",
     "2024-03-02T09:00:00Z", "meta article:modified_time"),
    ("", '<p>Updated <time datetime="2022-09-12">Sep 12</time></p>', "2022-09-12T00:00:00Z", "time datetime"),
    ('<meta name="date" content="Wed, 21 Oct 2015 07:28:00 GMT">', "", "2015-10-21T07:28:00Z", "meta date"),
    # an unparseable meta date falls through to <time>
    ('<meta name="last-modified" content="last tuesday">', '<time datetime="2021-01-02T03:04:05Z">x</time>',
     "2021-01-02T03:04:05Z", "time datetime"),
    # meta wins over <time>
    ('<meta name="Last-Modified" content="2020-02-02">', '<time datetime="2021-01-02">x</time>',
     "2020-02-02T00:00:00Z", "meta last-modified"),
    ("", "<p>no dates at all</p>", None, None),
])
def test_html_metadata_dates(head, body, updated, source):
    meta = html_metadata(f"<html><head><title> T </title>{head}</head><body>{body}</body></html>")
    assert meta.get("updated") == updated
    assert meta.get("updated_from") == source
    assert meta["title"] == "T"


def test_html_metadata_owner_and_status():
    meta = html_metadata('<html><head><meta name="owner" content=" @payments "><meta name="status" content="deprecated">'
                         '<meta name="superseded_by" content="new.html"><meta name="review_by" content="2025-01-01">'
                         '</head><body></body></html>')
    assert {k: meta[k] for k in ("owner", "status", "superseded_by", "review_by")} == {
        "owner": "@payments", "status": "deprecated", "superseded_by": "new.html", "review_by": "2025-01-01"}


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize("value, expected", [
    ("2024-03-02", "2024-03-02T00:00:00Z"),
    ("2024-03-02T10:11:12Z", "2024-03-02T10:11:12Z"),
    ("2024-03-02T10:11:12.999+02:00", "2024-03-02T08:11:12Z"),
    ("2024/03/02", "2024-03-02T00:00:00Z"),
    ("2 March 2024", "2024-03-02T00:00:00Z"),
    ("March 2, 2024", "2024-03-02T00:00:00Z"),
    ("Sat, 02 Mar 2024 10:00:00 GMT", "2024-03-02T10:00:00Z"),
    ("2024-02-30", None),
    ("soon", None),
    ("", None),
    (None, None),
])
def test_parse_date(value, expected):
    assert parse_date(value) == expected


def test_html_nested_thousands_deep_keeps_its_text_without_recursion_error():
    # issue 11 item 3: ~1,000 nested <div>s raised RecursionError and stopped the crawl
    page = ("<html><body><h1>Deep</h1><h2>Steps</h2>" + "<div>" * 3000 + "<p>drain the node first</p>"
            + "<div><p>then restart the kubelet</p></div>" + "</div>" * 3000 + "<h2>After</h2><p>check pods</p></body></html>")
    secs = html(page)
    assert [s.heading for s in secs] == ["Deep", "Steps", "After"]
    steps = secs[1].text
    assert "drain the node first" in steps and "then restart the kubelet" in steps
    assert secs[2].text.strip() == "check pods"


def test_front_matter_with_an_impossible_date_keeps_the_page_and_says_why():
    meta, lines, err = split_front_matter("---\nupdated: 2024-13-45\nowner: ann\n---\n# T\n")
    assert (meta, lines) == ({"updated": "2024-13-45", "owner": "ann"}, 4)
    assert "does not exist" in err and "2024-13-45" in err


def test_front_matter_alias_bomb_is_refused_quickly():
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdefgh"):
        prev = "abcdefgh"[i]
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    meta, _, err = split_front_matter("---\n" + "\n".join(levels) + "\n---\n# T\n")
    assert meta == {} and "alias bomb" in err


def test_deep_lists_and_quotes_keep_the_rest_of_the_page():
    # issue 11 item 8: a list nested 10+ levels deep dropped everything after it, with no warning
    deep_list = "\n".join("  " * i + f"- level {i}" for i in range(15))
    secs = md(f"# T\n\n## A\n\n{deep_list}\n\nafter the list\n\n## B\n\nsection b text\n")
    assert [s.heading for s in secs] == ["T", "A", "B"]
    assert "level 14" in secs[1].text and "after the list" in secs[1].text
    assert secs[2].text.strip() == "section b text"
    secs = md("# T\n\n## Q\n\n" + ">" * 25 + " deep quote text\n\nafter quote\n")
    assert "deep quote text" in secs[1].text and "after quote" in secs[1].text


@pytest.mark.parametrize("deep", [
    "\n".join("  " * i + f"- level {i}" for i in range(150)),  # 300 token levels: past maxNesting 200
    "- " * 250 + "level 249 on one line",
    ">" * 250 + " level 249 in a quote",
    "> - " * 80 + "level 80, quotes in lists in quotes",
])
def test_nesting_past_the_parser_limit_keeps_the_rest_of_the_page_as_flat_text(deep):
    """Issue 11 point 8: past maxNesting (200) markdown-it drops the rest of the list or quote, and for a list
    the rest of the page, without a word. The lines it dropped are parsed again with their nesting flattened."""
    last = deep.rsplit("\n", 1)[-1].split("level ", 1)[1]
    secs = md(f"# T\n\n## A\n\nbefore the list\n\n{deep}\n\nafter the list\n\n## B\n\nsection b text\n\n"
              "- one\n- two\n")
    assert [(s.heading, s.line_start) for s in secs][:2] == [("T", 1), ("A", 3)]
    assert [s.heading for s in secs] == ["T", "A", "B"]
    a, b = secs[1].text, secs[2].text
    assert "before the list" in a and f"level {last}" in a and "after the list" in a
    assert "level 0" in a or deep.startswith((">", "- -"))
    assert b.split("\n\n") == ["section b text", "- one", "- two"]
    assert secs[2].line_start == secs[1].line_end + 2


@pytest.mark.parametrize("value", ["\x1b[2J\x1b]0;owned\x07", "\x7f", "\x00", "a\x85b"[:2] + "\x01", "\ufffe"])
def test_front_matter_with_a_control_character_is_a_warning_not_a_crash(value):
    """Found by benchmarks/fuzz_crawl.py (issue 11): PyYAML's reader rejects control characters when the
    loader is made, outside the try that turns YAML errors into a warning, so one page's title with a
    terminal escape in it ended the whole crawl with exit 4."""
    meta, lines, err = split_front_matter(f"---\nowner: ann\ntitle: {value} x\n---\n# T\n\ntext\n")
    assert (meta, lines) == ({}, 4)
    assert err is not None and "\n" not in err
    assert err.startswith("broken front matter at line 3: character U+") and "is not allowed in YAML" in err


@pytest.mark.parametrize("pattern, n", [("![", 40_000), ("[![", 30_000), ("[", 80_000), ("<!--", 50_000)])
def test_pathological_markdown_is_parsed_without_quadratic_blowup(pattern, n):
    """Found by benchmarks/fuzz_crawl.py (issue 11): markdown-it scans to the end of a paragraph from every
    unclosed "[" (60 KB of "![" took 33 s), and the comment regex from every unclosed "<!--" (200 KB took
    164 s); both grow with the square of the size, so one 5 MB page held the crawl and its lock for hours.
    Such a paragraph keeps its text; the timing bound is loose: each case took 30 s or more before."""
    import time

    t = time.perf_counter()
    secs = md(f"# T\n\n{pattern * n}\n\n## After\n\nafter text\n")
    assert time.perf_counter() - t < 10
    assert secs[0].heading == "T" and secs[0].text.count(pattern) == n  # kept as text
    if pattern != "<!--":  # an unclosed comment is HTML to the end of the page (CommonMark), "## After" too
        assert [s.heading for s in secs] == ["T", "After"] and secs[1].text == "after text"


@pytest.mark.parametrize("pattern", ["<!--", "<!--a>"])
def test_unclosed_html_comments_are_text_without_quadratic_blowup(pattern):
    """Found by benchmarks/fuzz_crawl.py (issue 11): html.parser searches to the end of the page for the end
    of every unclosed "<!--" (60 KB took 2 s, growing with the square of the size); they are text, as before."""
    import time

    page = f"<html><body><h1>T</h1><p>a<!-- closed -->b</p><h2>U</h2><p>{pattern * 40_000}"  # cut off there
    t = time.perf_counter()
    secs = html(page)
    assert time.perf_counter() - t < 10
    assert [s.heading for s in secs] == ["T", "U"] and secs[0].text == "ab"
    assert secs[1].text.count(pattern) == 40_000


def test_huge_front_matter_is_not_parsed():
    """Found by benchmarks/fuzz_crawl.py (issue 11): PyYAML reads about 150 KB a second, and a page's front
    matter was parsed twice; 600 KB of tags took 8 s. Front matter over 64 KB is a warning, not parsed."""
    text = "---\ntags: [" + ", ".join(f"t{i}" for i in range(100_000)) + "]\nowner: ann\n---\n# T\n\nbody\n"
    meta, lines, err = split_front_matter(text)
    assert (meta, lines) == ({}, 4)
    assert err == "front matter is over 64 KB (770 KB); not read, fix or shorten it"
    assert split_front_matter("---\ntitle: " + "x" * 60_000 + "\n---\n# T\n")[0] == {"title": "x" * 60_000}


def test_check_reads_links_of_a_bracket_heavy_page_in_linear_time(tmp_path):
    """Issue 11: the link reader of `check` parsed markdown on its own, without the bracket budget of
    the section split: 60 KB of "![" took about half a minute there too."""
    import time

    from wikicheck.check import run_checks
    from wikicheck.crawl import crawl
    from wikicheck.embed import get_embedder
    from wikicheck.store import Store

    wiki = tmp_path / "wiki"
    wiki.mkdir()
    (wiki / "brackets.md").write_text("# Brackets\n\n" + "![" * 30000 + "\n\nSee [the guide](guide.md).\n")
    (wiki / "guide.md").write_text("# Guide\n\nText.\n")
    crawl([str(wiki)], tmp_path / "idx", embedder=get_embedder("test-hash-64"))
    with Store.open(tmp_path / "idx") as st:
        t = time.perf_counter()
        run_checks(st, record="no")
        assert time.perf_counter() - t < 10  # was ~30 s; linear now (well under a second here)
