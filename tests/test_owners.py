"""Ownership resolution (issue 5): front matter -> CODEOWNERS (GitHub semantics) -> [owners] config ->
last git author, labelled; and the expectations of tests/fixtures_planted.md for sample_wiki."""

from __future__ import annotations

from pathlib import Path

import pytest
from rules.helpers import config, crawl_check, make_wiki, md

from wikicheck.errors import ConfigError
from wikicheck.owners import (
    CodeOwners,
    OwnerResolver,
    find_codeowners,
    owner_slug,
    pattern_regex,
    split_owners,
)
from wikicheck.store import Store

SAMPLE = Path(__file__).parent.parent / "sample_wiki"

TRICKY = r"""
# comment line, then a blank line

*                       @acme/everyone
*.md                    @acme/writers        # an inline comment
docs/                   @acme/docs-anywhere
/docs/                  @acme/docs-root
/teams/**/refunds*.md   refunds-lead@acme.example
/apps/                  @octocat
/apps/github
/notes/*                @acme/notes-top
My\ Runbooks/           @acme/spaced
/build/logs/            @doctocat
**/logs                 @acme/any-logs
"""


@pytest.fixture(scope="module")
def tricky() -> CodeOwners:
    return CodeOwners.parse(TRICKY, "CODEOWNERS")


def owners_of(co: CodeOwners, path: str) -> tuple[str, ...] | None:
    rule = co.match(path)
    return rule.owners if rule else None


@pytest.mark.parametrize("path,expected", [
    ("README.txt", ("@acme/everyone",)),  # `*` matches every file
    ("src/main.py", ("@acme/everyone",)),
    ("guide.md", ("@acme/writers",)),  # `*.md` at any depth; the later rule wins over `*`
    ("platform/deep/guide.md", ("@acme/writers",)),
    # `/docs/` (anchored) comes after `docs/` (anywhere): last match wins at the root...
    ("docs/intro.md", ("@acme/docs-root",)),
    ("docs/a/b/c.txt", ("@acme/docs-root",)),
    # ...but below the root only the unanchored `docs/` matches
    ("platform/docs/intro.md", ("@acme/docs-anywhere",)),
    ("a/b/docs/x/y.txt", ("@acme/docs-anywhere",)),
    # `/teams/**/refunds*.md`: anchored, `**/` is zero or more folders; beats `*.md`
    ("teams/refunds.md", ("refunds-lead@acme.example",)),
    ("teams/payments/eu/refunds-2024.md", ("refunds-lead@acme.example",)),
    ("teams/payments/refund.md", ("@acme/writers",)),  # "refund" is not "refunds*"
    ("other/teams/refunds.md", ("@acme/writers",)),  # anchored: teams/ must be at the root
    ("teams/payments/refunds.txt", ("@acme/everyone",)),
    # a later pattern without owners: matched, but nobody owns it
    ("apps/web/index.md", ("@octocat",)),
    ("apps/github/index.md", ()),
    # `/notes/*`: the folder's files, not its sub-folders
    ("notes/today.txt", ("@acme/notes-top",)),
    ("notes/2024/today.txt", ("@acme/everyone",)),
    # escaped space
    ("My Runbooks/restart.txt", ("@acme/spaced",)),
    ("team/My Runbooks/restart.txt", ("@acme/spaced",)),
    ("My/restart.txt", ("@acme/everyone",)),
    # `/build/logs/` then `**/logs`: the later one wins everywhere it matches
    ("build/logs/today.log", ("@acme/any-logs",)),
    ("deeply/nested/logs/x.log", ("@acme/any-logs",)),
])
def test_codeowners_github_semantics(tricky, path, expected):
    assert owners_of(tricky, path) == expected


def test_codeowners_case_sensitive_and_no_match():
    co = CodeOwners.parse("/Docs/ @a\n*.MD @b\n")
    assert owners_of(co, "docs/x.md") is None
    assert owners_of(co, "Docs/x.md") == ("@a",)


def test_codeowners_comments_invalid_lines_and_negation():
    co = CodeOwners.parse("# only a comment\n\n!negated.md @x\nfoo.md not-an-owner\n/ok/ @team/sub @u a@b.io # trailing\n")
    assert [(r.pattern, r.owners, r.line) for r in co.rules] == [("/ok/", ("@team/sub", "@u", "a@b.io"), 5)]
    assert len(co.warnings) == 2
    assert "negated" in co.warnings[0] and "line skipped" in co.warnings[1]


@pytest.mark.parametrize("pattern,path,matches", [
    ("*", "a/b/c", True),
    ("/*", "a", True),
    ("/*", "a/b", False),
    ("docs/*", "docs/x.md", True),
    ("docs/*", "docs/x/y.md", False),
    ("docs/**", "docs/x/y.md", True),
    ("**/logs", "logs/x", True),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b/z", True),
    ("?.md", "x.md", True),
    ("?.md", "xy.md", False),
    ("*.md", "x.md/inner", True),  # a folder named x.md: everything below it
    ("\\#hash.md", "#hash.md", True),
])
def test_pattern_regex(pattern, path, matches):
    assert bool(pattern_regex(pattern).match(path)) is matches


def test_codeowners_locations_github_order(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / ".github").mkdir()
    (tmp_path / "docs" / "CODEOWNERS").write_text("* @from-docs\n")
    assert find_codeowners(tmp_path).path == "docs/CODEOWNERS"
    (tmp_path / "CODEOWNERS").write_text("* @from-root\n")
    assert find_codeowners(tmp_path).path == "CODEOWNERS"
    (tmp_path / ".github" / "CODEOWNERS").write_text("* @from-github\n")
    co = find_codeowners(tmp_path)
    assert co.path == ".github/CODEOWNERS" and co.rules[0].owners == ("@from-github",)


def test_codeowners_of_a_repository_apply_to_a_source_in_a_sub_folder(git_repo):
    repo = git_repo(("2026-01-01T00:00:00+00:00", {"CODEOWNERS": "/wiki/platform/ @acme/platform\n",
                                                   "wiki/platform/a.md": "# A\n"}))
    co = find_codeowners(repo / "wiki")
    assert co.prefix == "wiki"
    assert co.match("platform/a.md").owners == ("@acme/platform",)


@pytest.mark.parametrize("value,expected", [
    ("@acme/a", ("@acme/a",)),
    ("@acme/a @acme/b", ("@acme/a", "@acme/b")),
    ("Jane Doe", ("Jane Doe",)),
    ("a@x.io, @b", ("a@x.io", "@b")),
    (["@x", "@y, @z"], ("@x", "@y", "@z")),
    (None, ()),
    ("", ()),
])
def test_split_owners(value, expected):
    assert split_owners(value) == expected


def test_owner_slug_is_file_name_safe():
    assert owner_slug("@acme/platform-team") == "acme-platform-team"
    assert owner_slug("payments-lead@acme.example") == "payments-lead-at-acme-example"
    assert owner_slug("../../etc/passwd") == "etc-passwd"
    assert owner_slug("<script>") == "script"
    assert owner_slug("///") == "owner"


# ----------------------------------------------------------------------------- config


def test_owners_config_is_validated():
    assert config({"owners": {"platform/": "@acme/platform", "/teams/x/": ["@a", "b@c.io"]}}).data["owners"]
    with pytest.raises(ConfigError, match=r'\[owners\] "platform/": should be an owner'):
        config({"owners": {"platform/": 3}})
    with pytest.raises(ConfigError, match="is not an @user, @org/team or email"):
        config({"owners": {"platform/": "platform team"}})
    with pytest.raises(ConfigError, match=r"\[owners\] should be a table"):
        config({"owners": ["platform/"]})


def test_guard_config_section_is_validated():
    assert config({"guard": {"record-events": False}}).data["guard"]["record-events"] is False
    with pytest.raises(ConfigError, match='unknown option "policy" in \\[guard\\]'):
        config({"guard": {"policy": "block"}})
    with pytest.raises(ConfigError, match="should be true or false"):
        config({"guard": {"record-events": "no"}})


# ----------------------------------------------------------------------------- resolution order


def test_resolution_order_front_matter_codeowners_config_then_git_author(git_repo, tmp_path, fake_embedder):
    repo = git_repo(("2024-03-02T16:45:00+00:00", {
        "CODEOWNERS": "/platform/ @acme/platform-team\n/platform/legacy/\n",  # legacy/: matched, no owners
        "platform/fm.md": md('owner: "@acme/front"', "# FM\n\n## One\n\nText.\n"),
        "platform/co.md": "# CO\n\n## One\n\nText.\n",
        "platform/legacy/old.md": "# Old\n\n## One\n\nText.\n",
        "ops/cfg.md": "# Cfg\n\n## One\n\nText.\n",
        "misc/nobody.md": "# Nobody\n\n## One\n\nText.\n",
    }))
    crawl_check(repo, tmp_path / "idx", embedder=fake_embedder)
    cfg = config({"owners": {"ops/": "@acme/ops", "platform/legacy/": "@acme/legacy-keepers"}})
    with Store.open(tmp_path / "idx") as st:
        resolver = OwnerResolver.for_store(st, cfg)
        docs = {d["id"]: d for d in st.documents()}
        got = {}
        for s in st.sections():
            if s["heading"] == "One":
                got[s["path"]] = resolver.for_section(s, docs[s["document_id"]])
    assert got["platform/fm.md"].owners == ("@acme/front",) and got["platform/fm.md"].source == "front_matter"
    co = got["platform/co.md"]
    assert (co.owners, co.source, co.detail) == (("@acme/platform-team",), "codeowners", "CODEOWNERS line 1: /platform/")
    # CODEOWNERS matches but names nobody: the config mapping is asked next
    assert got["platform/legacy/old.md"].owners == ("@acme/legacy-keepers",)
    assert got["platform/legacy/old.md"].source == "config"
    assert got["ops/cfg.md"].owners == ("@acme/ops",) and got["ops/cfg.md"].detail == '[owners] "ops/" in the config'
    # nobody declared an owner: the last git author, labelled as a fallback
    fb = got["misc/nobody.md"]
    assert fb.owners == ("Ann Author <ann@example.com>",) and fb.source == "git_author"
    assert "fallback" in fb.label and "fallback" in fb.detail


def test_folder_source_without_any_owner_is_unowned(tmp_path, fake_embedder):
    wiki = make_wiki(tmp_path / "wiki", {"a.md": md("author: Someone", "# A\n\nText.\n")})
    crawl_check(wiki, tmp_path / "idx", embedder=fake_embedder)
    with Store.open(tmp_path / "idx") as st:
        resolver = OwnerResolver.for_store(st, config({}))
        s = st.sections()[0]
        o = resolver.for_section(s, st.documents()[0])
    # a front matter author is not an owner, and not a git author either
    assert (o.owners, o.source) == ((), "none")


# ----------------------------------------------------------------------------- sample_wiki (fixtures_planted.md)


@pytest.mark.parametrize("path,front_matter,owners,source", [
    ("index.md", None, (), "none"),
    ("postmortems/2023-04-12-checkout-outage.md", "j.okafor@acme.example", ("j.okafor@acme.example",), "front_matter"),
    ("oncall/dns-cheatsheet.md", None, ("@acme/platform-team",), "codeowners"),
    ("oncall/handoff.md", None, ("@acme/sre",), "codeowners"),
    ("search/query-latency.md", None, ("@acme/search-team",), "codeowners"),
    ("data/kafka-consumer-lag.md", None, ("@acme/data-eng",), "codeowners"),
    ("payments/refund-processing.md", None, ("payments-lead@acme.example",), "codeowners"),
    ("payments/refunds.md", "@acme/payments-team", ("@acme/payments-team",), "front_matter"),
    ("payments/ledger-reconciliation.html", None, ("@acme/docs",), "codeowners"),
    ("search/synonyms.html", None, ("@acme/docs",), "codeowners"),
    ("sre/capacity-planning.html", None, ("@acme/docs",), "codeowners"),
    ("storefront/feature-flags.html", None, ("@acme/storefront-team", "@acme/docs"), "codeowners"),
    ("data/warehouse-access.md", "data-platform@acme.example", ("data-platform@acme.example",), "front_matter"),
])
def test_sample_wiki_owners_table(path, front_matter, owners, source):
    resolver = OwnerResolver([{"name": "sample_wiki", "root": str(SAMPLE), "kind": "folder"}])
    o = resolver.resolve("sample_wiki", path, front_matter)
    assert (o.owners, o.source) == (owners, source)
    assert resolver.warnings() == []
