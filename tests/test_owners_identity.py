"""Owner identities and report file names (#12): a person with two git e-mails is one owner
(.mailmap, then one e-mail = one owner, never one name = one owner); report file names are readable,
stable, unique and safe; an owner's report never says "ownership from .".

Real git repositories with backdated commits, crawled, checked and reported."""

from __future__ import annotations

import html
import json
import re

from helpers import commit, init_repo
from rules.helpers import check, config, crawl_check, make_wiki, md

from wikicheck.crawl import crawl
from wikicheck.embed import get_embedder
from wikicheck.owners import OwnerResolver, git_check_mailmap
from wikicheck.report.owners import (
    build_reports,
    owner_file_slugs,
    render,
    write_reports,
)
from wikicheck.store import Store

STALE = {"rules": {"stale": {"level": "warning", "max-age-days": 365}}}
JANE_OLD = ("J. Doe", "jane@old.example")
JANE = ("Jane Doe", "jane@acme.example")
ALEX_1 = ("Alex Smith", "alex@acme.example")
ALEX_2 = ("Alex Smith", "asmith@contractor.example")
PAGE = "# {t}\n\n## Steps\n\nRestart the {t} service.\n"


def _reports(idx, cfg=STALE, **kw):
    with Store.open(idx) as st:
        return build_reports(st, config(cfg), **kw)


def _keys(bundle):
    return sorted(r["key"] for r in bundle["reports"] if r["owner"])


def test_mailmap_makes_two_emails_one_owner(tmp_path):
    """`git blame` maps authors through a .mailmap that is there when a page is crawled; one added
    later (or read from mailmap.file) applies at report time, to the authors the index holds."""
    repo = init_repo(tmp_path / "wiki")
    commit(repo, {"a.md": PAGE.format(t="alpha")}, "2023-01-10T10:00:00+00:00", author=JANE_OLD)
    commit(repo, {"b.md": PAGE.format(t="beta")}, "2024-02-10T10:00:00+00:00", author=JANE)
    idx = tmp_path / "idx"
    crawl_check(repo, idx, STALE, record=True)
    assert _keys(_reports(idx)) == ["J. Doe <jane@old.example>", "Jane Doe <jane@acme.example>"]
    # the e-mails differ, so only the .mailmap can say they are one person (matched ignoring case)
    commit(repo, {".mailmap": f"{JANE[0]} <{JANE[1]}> <{JANE_OLD[1].upper()}>\n"}, "2024-02-11T10:00:00+00:00",
           author=JANE)
    crawl_check(repo, idx, STALE, record=True)
    with Store.open(idx) as st:  # the index still holds what git recorded when the pages were crawled
        assert {s["author"] for s in st.sections()} == {"J. Doe <jane@old.example>", "Jane Doe <jane@acme.example>"}
    bundle = _reports(idx)
    assert _keys(bundle) == ["Jane Doe <jane@acme.example>"]
    jane = bundle["reports"][0]
    assert jane["owned_pages"] == 2 and jane["ownership"]["sources"] == {"git_author": 4}
    assert {it["section"]["path"] for it in jane["items"]} == {"a.md", "b.md"}  # both stale pages, one report
    assert all(it["ownership"]["owners"] == ["Jane Doe <jane@acme.example>"] for it in jane["items"])
    assert git_check_mailmap(repo, ["J. Doe <jane@old.example>", "not an identity"]) == {
        "J. Doe <jane@old.example>": "Jane Doe <jane@acme.example>"}


def test_two_names_with_one_email_are_one_owner_named_as_in_the_newest_commit(tmp_path):
    repo = init_repo(tmp_path / "wiki")
    commit(repo, {"a.md": PAGE.format(t="alpha")}, "2023-01-10T10:00:00+00:00", author=("jane", JANE[1]))
    commit(repo, {"b.md": PAGE.format(t="beta")}, "2024-02-10T10:00:00+00:00", author=JANE)
    crawl_check(repo, tmp_path / "idx", STALE, record=True)
    bundle = _reports(tmp_path / "idx")
    assert _keys(bundle) == ["Jane Doe <jane@acme.example>"]
    # the resolver on its own (section by section) gives the same owner
    with Store.open(tmp_path / "idx") as st:
        resolver = OwnerResolver.for_store(st)
        docs = {d["id"]: d for d in st.documents()}
        assert {resolver.for_section(s, docs[s["document_id"]]).owners for s in st.sections()} == {
            ("Jane Doe <jane@acme.example>",)}


def test_two_people_with_one_name_stay_two_owners(tmp_path):
    repo = init_repo(tmp_path / "wiki")
    commit(repo, {"a.md": PAGE.format(t="alpha")}, "2023-01-10T10:00:00+00:00", author=ALEX_1)
    commit(repo, {"b.md": PAGE.format(t="beta")}, "2023-02-10T10:00:00+00:00", author=ALEX_2)
    crawl_check(repo, tmp_path / "idx", STALE, record=True)
    bundle = _reports(tmp_path / "idx")
    assert _keys(bundle) == ["Alex Smith <alex@acme.example>", "Alex Smith <asmith@contractor.example>"]
    files = {p.name for p in write_reports(bundle, tmp_path / "out", ["md"])}
    slugs = [r["slug"] for r in bundle["reports"] if r["owner"]]
    assert len(set(slugs)) == 2 and {f"{s}.md" for s in slugs} <= files


def test_report_file_names_are_readable_stable_unique_and_safe():
    long = "Maximilian Alexander " * 6 + "<max@acme.example>"
    owners = ["@acme/payments-team", "Jane Doe <jane@acme.com>", "Zoë Ünïcode", "@acme/Payments-Team",
              "../../etc/passwd", "a.b.c", "山田太郎", "山田花子", long, "CON", "@acme/platform.team",
              "@acme/platform-team"]
    got = owner_file_slugs(owners)
    assert got["Jane Doe <jane@acme.com>"] == "owner-jane-doe-jane-at-acme-com"
    assert got["Zoë Ünïcode"] == "owner-zoe-unicode"
    assert got["../../etc/passwd"] == "owner-etc-passwd"
    assert got["a.b.c"] == "owner-a-b-c"
    assert got["CON"] == "owner-con"
    # two owners that slug to one name: both get a hash of the owner, whatever order they come in
    assert re.fullmatch(r"owner-acme-payments-team-[0-9a-f]{8}", got["@acme/payments-team"])
    assert re.fullmatch(r"owner-acme-payments-team-[0-9a-f]{8}", got["@acme/Payments-Team"])
    assert re.fullmatch(r"owner-acme-platform-team-[0-9a-f]{8}", got["@acme/platform.team"])
    # letters with no ASCII form, a name cut short: a hash keeps them apart
    assert re.fullmatch(r"owner-owner-[0-9a-f]{8}", got["山田太郎"]) and got["山田太郎"] != got["山田花子"]
    assert re.fullmatch(r"owner-maximilian-alexander-[a-z-]+-[0-9a-f]{8}", got[long])
    assert len(set(got.values())) == len(owners)
    for slug in got.values():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug) and len(slug + ".html") <= 68
    assert owner_file_slugs(reversed(owners)) == got  # stable
    assert owner_file_slugs(["@acme/payments-team"]) == {"@acme/payments-team": "owner-acme-payments-team"}


def test_report_files_written_under_those_names(tmp_path):
    pages = {f"p{i}.md": md(f"owner: '{o}'; updated: 2020-01-01", PAGE.format(t=f"p{i}")) for i, o in enumerate(
        ["@acme/payments-team", "Zoë Ünïcode", "@acme/Payments-Team", "team/../../x"])}
    wiki = make_wiki(tmp_path / "wiki", pages)
    crawl([str(wiki)], tmp_path / "idx", embedder=get_embedder("test-hash-64"))
    check(tmp_path / "idx", STALE, record=True)
    bundle = _reports(tmp_path / "idx")
    names = sorted(p.name for p in write_reports(bundle, tmp_path / "out", ["json"]))
    assert "owner-zoe-unicode.json" in names and "owner-team-x.json" in names
    assert len([n for n in names if n.startswith("owner-acme-payments-team-")]) == 2
    assert all((tmp_path / "out" / n).parent == tmp_path / "out" for n in names)
    # one owner's report (--owner) has the name it has in the full run
    single = _reports(tmp_path / "idx", owner="@acme/payments-team")
    full = {r["key"]: r["slug"] for r in bundle["reports"]}
    assert single["reports"][0]["slug"] == full["@acme/payments-team"]
    page = json.loads((tmp_path / "out" / "owner-zoe-unicode.json").read_text(encoding="utf-8"))
    assert page["report"]["owner"] == "Zoë Ünïcode"


def test_an_owner_of_resolved_findings_only_says_where_ownership_came_from(tmp_path):
    repo = init_repo(tmp_path / "wiki")
    carol = ("Carol Old", "carol@acme.example")
    commit(repo, {"old.md": PAGE.format(t="old")}, "2022-01-10T10:00:00+00:00", author=carol)
    commit(repo, {"new.md": PAGE.format(t="new")}, "2026-11-01T10:00:00+00:00", author=JANE)
    idx = tmp_path / "idx"
    crawl_check(repo, idx, STALE, record=True)
    commit(repo, {"old.md": None}, "2026-11-20T10:00:00+00:00", author=JANE)  # Carol's stale page is gone
    crawl_check(repo, idx, STALE, record=True)
    bundle = _reports(idx)
    rep = next(r for r in bundle["reports"] if r["key"] == "Carol Old <carol@acme.example>")
    assert [r["path"] for r in rep["resolved"]] == ["old.md"]
    assert rep["ownership"]["sources"] == {"git_author": 1}
    for fmt in ("md", "html"):
        for text in (render(bundle, fmt, rep), render(bundle, fmt, page="bundle")):
            assert "ownership from ." not in text and "ownership from\n" not in text
            assert re.search(r"ownership from (<span class=\"src\">)?git author \(fallback\)", text)


def _ownership_line(text: str, fmt: str) -> str:
    """The sentence under an owner's heading that says where the ownership comes from."""
    if fmt == "html":
        m = re.search(r'<p class="ownership">(.*?)</p>', text, re.S)
        return html.unescape(re.sub(r"<[^>]+>", "", m.group(1))) if m else ""
    line = next((line for line in text.splitlines() if line.startswith(("Owner of", "Every live section"))
                 or " no owner (" in line), "")
    return re.sub(r"\\(.)", r"\1", line)  # markdown escapes


def test_the_ownership_sentence_for_every_source(tmp_path):
    """Front matter, CODEOWNERS, the [owners] config, a git author, and none known: each owner's
    report says where its ownership comes from, counted right (1 section, 2 sections)."""
    repo = init_repo(tmp_path / "wiki")
    old = "2022-01-10T10:00:00+00:00"
    commit(repo, {"fm.md": md("owner: '@fm-team'", PAGE.format(t="fm")), "co/x.md": PAGE.format(t="co"),
                  "cfg/y.md": "# Only a title\n\nRestart the cfg service.\n", "git.md": PAGE.format(t="git"),
                  "CODEOWNERS": "/co/ @co-team\n"}, old, author=JANE)
    folder = make_wiki(tmp_path / "folder", {"loose.md": "# Loose\n\nRestart the loose service.\n"})
    idx = tmp_path / "idx"
    cfg = {**STALE, "owners": {"cfg/": "@cfg-team"}}
    crawl_check([repo, folder], idx, cfg, record=True)
    bundle = _reports(idx, cfg)
    expected = {
        "@fm-team": "Owner of 2 sections on 1 page; ownership from front matter for 2 sections.",
        "@co-team": "Owner of 2 sections on 1 page; ownership from CODEOWNERS for 2 sections.",
        "@cfg-team": "Owner of 1 section on 1 page; ownership from [owners] config for 1 section.",
        "Jane Doe <jane@acme.example>": "Owner of 2 sections on 1 page; ownership from git author (fallback) for 2 sections.",
        "unowned": "1 section on 1 page has no owner",
    }
    assert {r["key"] for r in bundle["reports"]} == set(expected)
    for rep in bundle["reports"]:
        for fmt in ("md", "html"):
            line = _ownership_line(render(bundle, fmt, rep), fmt)
            want = expected[rep["key"]]
            if fmt == "html" and rep["owner"]:
                want = want.replace("Owner of", f"Owner {rep['owner']} of")
            assert line.startswith(want), (fmt, line)


def test_the_ownership_sentence_of_findings_only(tmp_path):
    """An owner of no live section (a resolved finding on a page git removed) and the unowned report
    when every live section has an owner: neither claims sections it does not have."""
    repo = init_repo(tmp_path / "wiki")
    carol = ("Carol Old", "carol@acme.example")
    commit(repo, {"old.md": PAGE.format(t="old")}, "2022-01-10T10:00:00+00:00", author=carol)
    commit(repo, {"new.md": md("owner: '@fm-team'", PAGE.format(t="new"))}, "2022-02-10T10:00:00+00:00", author=JANE)
    folder = make_wiki(tmp_path / "folder", {"loose.md": md("updated: 2020-01-01", "# Loose\n\nRestart it.\n")})
    idx = tmp_path / "idx"
    crawl_check([repo, folder], idx, STALE, record=True)
    commit(repo, {"old.md": None}, "2026-11-20T10:00:00+00:00", author=JANE)
    (folder / "loose.md").unlink()
    (folder / "kept.md").write_text(md("owner: '@fm-team'", "# Kept\n\nRestart the kept service.\n"))
    crawl_check([repo, folder], idx, STALE, record=True)
    bundle = _reports(idx)
    by_key = {r["key"]: r for r in bundle["reports"]}
    carol_r, unowned = by_key["Carol Old <carol@acme.example>"], by_key["unowned"]
    for fmt in ("md", "html"):
        assert _ownership_line(render(bundle, fmt, carol_r), fmt).startswith(
            ("Owner of" if fmt == "md" else "Owner Carol Old <carol@acme.example> of")
            + " no live section, only of the findings below; ownership from git author (fallback) for 1 section.")
        assert _ownership_line(render(bundle, fmt, unowned), fmt).startswith(
            "Every live section has an owner; the findings below have none")
        assert "0 sections" not in render(bundle, fmt, unowned)
    assert (carol_r["owned_sections"], carol_r["owned_pages"], carol_r["ownership"]["of"]) == (0, 0, "findings")
    assert (unowned["owned_sections"], [r["path"] for r in unowned["resolved"]]) == (0, ["loose.md"])
