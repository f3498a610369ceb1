"""WC301 broken-link on static sites: links name published URLs, resolved as the generator does (#12).

Each layout is a real one, with the generator's own config file: Hugo (as prometheus-operator/runbooks,
content/ and static/), MkDocs (docs_dir, use_directory_urls, site_url), Docusaurus (the docs preset's
path and routeBasePath, src/pages, static/), Middleman (config.rb, source/*.html.md and .html.erb).
Every layout also has links to pages that do not exist, which must still be flagged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.helpers import crawl_check, load_toml, make_wiki, md, of, show
from wikicheck.errors import ConfigError
from wikicheck.sites import GENERATOR_CHOICES, GENERATORS


def broken(result, path: str | None = None) -> set[str]:
    """The hrefs WC301 flags (on one page, when given)."""
    return {f.evidence["href"] for f in of(result, "WC301", path=path)}


def links(*hrefs: str) -> str:
    return "\n".join(f"- [link {i}]({h})" for i, h in enumerate(hrefs)) + "\n"


# ----------------------------------------------------------------------------- Hugo

HUGO_OK = ["/docs/add-runbook", "/docs/add-runbook/#template", "/runbooks/node/nodeclockskewdetected/",
           "/runbooks/node/NodeClockSkewDetected/", "../nodeclockskewdetected/#mitigation", "/runbooks/node/",
           "/docs/", "/images/logo.png", "/runbooks/node/disk-full/", "/old/disk", "NodeClockSkewDetected.md"]
HUGO_BROKEN = ["/docs/remove-runbook", "/docs/add-runbook/#nope", "/runbooks/node/NodeGone/", "/images/missing.png",
               "../nodegone/", "/runbooks/node/NodeDiskFull/"]


def hugo_files(config_name: str, config_text: str) -> dict[str, str | bytes | None]:
    page = md("title: NodeRAIDDegraded", "# NodeRAIDDegraded\n\n## Diagnosis\n\n" + links(*HUGO_OK, *HUGO_BROKEN)
              + '\nSee {{< ref "./NodeClockSkewDetected.md" >}} and {{< relref "/docs/add-runbook.md#template" >}},'
              + ' not {{< ref "./NodeGone.md" >}} nor {{< ref "/docs/add-runbook.md#nope" >}}.\n\n'
              + '`{{< ref "in-code.md" >}}`\n')
    return {
        config_name: config_text,
        "content/_index.md": md("title: Runbooks", "# Runbooks\n\nStart here.\n"),
        "content/docs/add-runbook.md": md("title: Add a runbook", "# Add a runbook\n\n## Template\n\nCopy it.\n"),
        "content/runbooks/_index.md": md("title: Runbooks; bookCollapseSection: true", "# Runbooks\n"),
        "content/runbooks/node/_index.md": md("title: Node", "# Node\n"),
        "content/runbooks/node/NodeClockSkewDetected.md": md("title: NodeClockSkewDetected",
                                                             "# NodeClockSkewDetected\n\n## Mitigation\n\nSync.\n"),
        "content/runbooks/node/NodeDiskFull.md": md('title: NodeDiskFull; slug: disk-full; aliases: ["/old/disk"]',
                                                    "# NodeDiskFull\n\nClean up.\n"),
        "content/runbooks/node/NodeRAIDDegraded.md": page,
        "static/images/logo.png": b"\x89PNG fake",
        "layouts/partials/docs/inject/head.html": "<meta name=x>",
        "layouts/404.html": ('<!DOCTYPE html><html><head><title>404</title></head><body><main><h1>404</h1>\n'
                             '<p><a href="/docs/add-runbook">Add runbook</a> or <a href="/docs/remove-runbook">not</a>'
                             ' or <a href="{{ .Site.Params.BookRepo }}/issues/new">Open an issue</a></p></main></body></html>'),
        "README.md": "# kube-prometheus runbooks\n\nSee [adding a runbook](/docs/add-runbook).\n",
    }


# the config of prometheus-operator/runbooks, and the other names Hugo reads
PROMETHEUS_CONFIG = """baseURL: "https://runbooks.prometheus-operator.dev"
languageCode: "en-us"
title: "kube-prometheus runbooks"
theme: book
params:
  BookRepo: "https://github.com/prometheus-operator/runbooks"
markup:
  goldmark:
    renderer:
      unsafe: true
"""
HUGO_TOML = 'baseURL = "https://runbooks.example.org/"\ntitle = "Runbooks"\ntheme = "book"\n'
HUGO_CONFIGS = [("config.yaml", PROMETHEUS_CONFIG), ("hugo.toml", HUGO_TOML), ("config.toml", HUGO_TOML),
                ("config/_default/hugo.yaml", PROMETHEUS_CONFIG), ("hugo.json", '{"baseURL": "https://x.example/"}')]
RAID = "content/runbooks/node/NodeRAIDDegraded.md"


@pytest.mark.parametrize("config_name,config_text", HUGO_CONFIGS)
def test_hugo(tmp_path, config_name, config_text):
    res = crawl_check(make_wiki(tmp_path / "wiki", hugo_files(config_name, config_text)), tmp_path / "idx")
    assert broken(res, RAID) == {*HUGO_BROKEN, "./NodeGone.md", "/docs/add-runbook.md#nope"}, show(of(res, "WC301"))
    # the README is not a page of the site: /docs/... there is a path in the repository, as GitHub shows it
    assert broken(res, "README.md") == {"/docs/add-runbook"}
    # a template renders pages of the site: its links are site URLs
    assert broken(res, "layouts/404.html") == {"/docs/remove-runbook"}
    gone = next(f for f in of(res, "WC301", RAID) if f.evidence["href"] == "/docs/remove-runbook")
    assert gone.message == ("link to /docs/remove-runbook resolves to docs/remove-runbook, which does not exist, "
                            "nor to a page of the hugo site in content/")
    assert gone.evidence["site"] == "hugo"
    ref = next(f for f in of(res, "WC301", RAID) if f.evidence["href"] == "./NodeGone.md")
    assert (ref.line, ref.message) == (27, 'ref "./NodeGone.md" names no page of the hugo site in content/')


def test_hugo_base_url_path(tmp_path):
    files = hugo_files("hugo.toml", 'baseURL = "https://example.org/ops/"\n')
    files[RAID] = md("title: x", "# X\n\n" + links("/ops/docs/add-runbook/", "/docs/add-runbook/", "/ops/docs/gone/"))
    res = crawl_check(make_wiki(tmp_path / "wiki", files), tmp_path / "idx")
    assert broken(res, RAID) == {"/ops/docs/gone/"}, show(of(res, "WC301"))


def test_hugo_config_yaml_of_another_tool_is_not_hugo(tmp_path):
    files = hugo_files("config.yaml", "rules:\n  line-length: 120\n")  # a linter's config.yaml beside content/
    res = crawl_check(make_wiki(tmp_path / "wiki", files), tmp_path / "idx")
    assert {"/docs/add-runbook", "/runbooks/node/"} <= broken(res, RAID)


@pytest.mark.parametrize("crawled,expected", [
    ("content", {"/docs/gone/", "/docs/add-runbook/#nope"}),
    # docs/add-runbook.md lies outside the crawled folder: it exists, but its headings are not known
    ("content/runbooks", {"/docs/gone/"}),
])
def test_hugo_sub_folder_of_a_git_repo_finds_the_config_above(tmp_path, git_repo, crawled, expected):
    files = hugo_files("hugo.toml", HUGO_TOML)
    files[RAID] = md("title: x", "# X\n\n" + links("/docs/add-runbook/#template", "/docs/add-runbook/#nope", "/docs/gone/",
                                                   "../nodeclockskewdetected/", "/images/logo.png"))
    repo = git_repo(("2026-10-01T10:00:00+00:00", files))
    res = crawl_check(repo / crawled, tmp_path / "idx")
    assert broken(res, RAID.removeprefix(crawled + "/")) == expected, show(of(res, "WC301"))


# ----------------------------------------------------------------------------- MkDocs

MKDOCS_YML = """site_name: Ops runbooks
site_url: https://example.org/handbook/
docs_dir: runbooks
use_directory_urls: {directory_urls}
theme:
  name: material
markdown_extensions:
  - toc:
      permalink: true
  - pymdownx.emoji:
      emoji_index: !!python/name:material.extensions.emoji.twemoji
      emoji_generator: !!python/name:material.extensions.emoji.to_svg
extra:
  analytics:
    property: !ENV [GOOGLE_ANALYTICS_KEY, 'none']
nav:
  - Home: index.md
  - Ops: ops/README.md
"""
MKDOCS_LINKS = ["../restart/", "../restart/#verify", "/ops/restart/", "/handbook/ops/restart/", "../", "/",
                "/img/flow.png", "restart.md#verify", "restart.html", "/ops/restart.html", "../gone/", "/ops/gone/",
                "../restart/#nope"]
MKDOCS_BROKEN = {
    True: {"restart.html", "/ops/restart.html", "../gone/", "/ops/gone/", "../restart/#nope"},
    # /ops/deploy.html: ../restart/ is /restart/, and there are no directory URLs
    False: {"../restart/", "../restart/#verify", "/ops/restart/", "/handbook/ops/restart/", "../gone/", "/ops/gone/",
            "../restart/#nope"},
}


@pytest.mark.parametrize("directory_urls", [True, False])
def test_mkdocs(tmp_path, directory_urls):
    files = {
        "mkdocs.yml": MKDOCS_YML.format(directory_urls=str(directory_urls).lower()),
        "runbooks/index.md": "# Ops runbooks\n\nStart here.\n",
        "runbooks/ops/README.md": "# Ops\n\nThe ops runbooks.\n",
        "runbooks/ops/restart.md": "# Restart\n\n## Verify\n\nCheck it.\n",
        "runbooks/ops/deploy.md": "# Deploy\n\n" + links(*MKDOCS_LINKS),
        "runbooks/img/flow.png": b"\x89PNG fake",
    }
    res = crawl_check(make_wiki(tmp_path / "wiki", files), tmp_path / "idx")
    assert broken(res, "runbooks/ops/deploy.md") == MKDOCS_BROKEN[directory_urls], show(of(res, "WC301"))


# ----------------------------------------------------------------------------- Docusaurus

DOCUSAURUS_CONFIG = """// @ts-check
/** @type {import('@docusaurus/types').Config} */
const config = {
  title: 'Ops runbooks',
  url: 'https://runbooks.example.org',
  baseUrl: '/',
  onBrokenLinks: 'throw',
  presets: [
    [
      'classic',
      /** @type {import('@docusaurus/preset-classic').Options} */
      ({
        docs: {
          path: 'runbooks',
          routeBasePath: 'rb',
          sidebarPath: require.resolve('./sidebars.js'),
          editUrl: ({docPath}) => `https://github.com/acme/runbooks/edit/main/${docPath}`,
        },
        blog: {routeBasePath: '/news', path: 'news'},
        theme: {customCss: require.resolve('./src/css/custom.css')},
      }),
    ],
  ],
};

module.exports = config;
"""
DOCUSAURUS_OK = ["/rb/ops/restart", "/rb/ops/restart#verify", "/rb/escalate", "/rb/ops/failover", "/rb/ops", "/status",
                 "/img/logo.png", "ops/restart", "./ops/01-restart.md", "/rb/"]
DOCUSAURUS_BROKEN = ["/docs/ops/restart", "/rb/ops/gone", "/rb/ops/restart#nope", "/rb/ops/01-restart", "/rb/ops/escalation"]


def test_docusaurus(tmp_path):
    files = {
        "docusaurus.config.js": DOCUSAURUS_CONFIG,
        "sidebars.js": "module.exports = {runbooks: [{type: 'autogenerated', dirName: '.'}]};\n",
        "runbooks/index.md": md("sidebar_position: 1", "# Welcome\n\n" + links(*DOCUSAURUS_OK, *DOCUSAURUS_BROKEN)),
        "runbooks/ops/ops.md": "# Ops\n\nThe category page.\n",
        "runbooks/ops/01-restart.md": "# Restart\n\n## Verify\n\nCheck it.\n",
        "runbooks/ops/escalation.md": md("slug: /escalate", "# Escalation\n\nPage someone.\n"),
        "runbooks/ops/failover.mdx": "import Tabs from '@theme/Tabs';\n\n# Failover\n",
        "src/pages/status.md": "# Status\n\nAll green.\n",
        "static/img/logo.png": b"\x89PNG fake",
    }
    res = crawl_check(make_wiki(tmp_path / "wiki", files), tmp_path / "idx")
    assert broken(res, "runbooks/index.md") == set(DOCUSAURUS_BROKEN), show(of(res, "WC301"))


def test_docusaurus_in_a_website_sub_folder(tmp_path, git_repo):
    """The usual monorepo layout: website/docusaurus.config.js publishes ../docs; the repository is crawled."""
    config = DOCUSAURUS_CONFIG.replace("path: 'runbooks',", "path: '../docs',").replace("routeBasePath: 'rb'", "routeBasePath: '/'")
    files = {
        "website/docusaurus.config.js": config,
        "docs/intro.md": "# Intro\n\n" + links("/ops/restart#verify", "ops/restart", "/ops/gone", "/rb/ops/restart"),
        "docs/ops/restart.md": "# Restart\n\n## Verify\n\nCheck it.\n",
        "README.md": "# Repo\n\n" + links("/ops/restart", "docs/ops/restart.md"),
    }
    res = crawl_check(git_repo(("2026-10-01T10:00:00+00:00", files)), tmp_path / "idx")
    assert broken(res, "docs/intro.md") == {"/ops/gone", "/rb/ops/restart"}, show(of(res, "WC301"))
    assert broken(res, "README.md") == {"/ops/restart"}  # not a page of the site: a path in the repository


# ----------------------------------------------------------------------------- Middleman

MIDDLEMAN_CONFIG = """# Activate and configure extensions
# https://middlemanapp.com/advanced/configuration/#configuring-extensions

activate :autoprefixer do |prefix|
  prefix.browsers = "last 2 versions"
end

set :markdown_engine, :redcarpet
set :markdown, fenced_code_blocks: true, tables: true
{directory_indexes}
configure :build do
  activate :minify_css
end
"""
MIDDLEMAN_OK = ["/manual/cdn.html", "/manual/cdn.html#purge", "cdn.html", "/manual/", "/", "/images/flow.png",
                "../index.html"]
MIDDLEMAN_BROKEN = ["/manual/gone.html", "/manual/_footer.html", "/manual/cdn.html#nope", "/layouts/layout.html"]


@pytest.mark.parametrize("directory_indexes", [True, False])
def test_middleman(tmp_path, directory_indexes):
    files = {
        "config.rb": MIDDLEMAN_CONFIG.format(directory_indexes="activate :directory_indexes" if directory_indexes else ""),
        "Gemfile": "source 'https://rubygems.org'\ngem 'middleman', '~> 4.2'\n",
        "source/index.html.erb": "---\ntitle: Home\n---\n<h1>Home</h1>\n",
        "source/manual/index.html.md": "# Manual\n\nStart here.\n",
        "source/manual/cdn.html.md": md("title: CDN", "# CDN\n\n## Purge\n\nPurge it.\n"),
        "source/manual/setup.html.md": md("title: Setup", "# Setup\n\n" + links(*MIDDLEMAN_OK, *MIDDLEMAN_BROKEN,
                                                                              "/manual/cdn/")),
        "source/manual/_footer.erb": "<footer></footer>\n",
        "source/layouts/layout.erb": "<html><%= yield %></html>\n",
        "source/images/flow.png": b"\x89PNG fake",
    }
    res = crawl_check(make_wiki(tmp_path / "wiki", files), tmp_path / "idx")
    expected = set(MIDDLEMAN_BROKEN) | (set() if directory_indexes else {"/manual/cdn/"})
    assert broken(res, "source/manual/setup.html.md") == expected, show(of(res, "WC301"))


# ----------------------------------------------------------------------------- [links] in wikicheck.toml

def test_site_root_and_url_prefix_from_config(tmp_path):
    files = {
        "pages/ops/restart.md": "# Restart\n\n## Verify\n\nCheck it.\n",
        "pages/ops/deploy.md": "# Deploy\n\n" + links("/docs/ops/restart/#verify", "/docs/ops/restart.html", "../restart/",
                                                      "/docs/ops/gone/", "/ops/restart/"),
    }
    wiki = make_wiki(tmp_path / "wiki", files)
    res = crawl_check(wiki, tmp_path / "idx", {"links": {"site-root": "pages", "url-prefix": "/docs"}})
    assert broken(res, "pages/ops/deploy.md") == {"/docs/ops/gone/", "/ops/restart/"}, show(of(res, "WC301"))
    # without the config, the folder is no site: every site URL is a missing file
    res = crawl_check(wiki, tmp_path / "idx2")
    assert broken(res, "pages/ops/deploy.md") == {"/docs/ops/restart/#verify", "/docs/ops/restart.html", "../restart/",
                                                  "/docs/ops/gone/", "/ops/restart/"}


def test_generator_none_turns_detection_off(tmp_path):
    wiki = make_wiki(tmp_path / "wiki", hugo_files("hugo.toml", HUGO_TOML))
    res = crawl_check(wiki, tmp_path / "idx", {"links": {"generator": "none"}})
    assert {"/docs/add-runbook", "/runbooks/node/"} <= broken(res, RAID)
    assert "./NodeGone.md" not in broken(res, RAID)  # shortcodes are Hugo's: not read without it


def test_generator_named_without_its_config_file(tmp_path):
    files = {"docs/ops/restart.md": "# Restart\n", "docs/ops/deploy.md": "# Deploy\n\n" + links("../restart/", "../gone/")}
    res = crawl_check(make_wiki(tmp_path / "wiki", files), tmp_path / "idx", {"links": {"generator": "mkdocs"}})
    assert broken(res, "docs/ops/deploy.md") == {"../gone/"}, show(of(res, "WC301"))


@pytest.mark.parametrize("toml,error", [
    ('[links]\nsite-roots = "content"\n', 'unknown option "site-roots" in [links] (known: generator, site-root, url-prefix)'),
    ('[links]\nsite-root = 1\n', 'option "site-root" of [links] should be str, got 1'),
    ('[links]\ngenerator = "jekyll"\n', ('option "generator" of [links] should be one of auto, none, mkdocs, '
                                         "docusaurus, hugo, middleman, generic, got 'jekyll'")),
])
def test_links_config_is_validated(tmp_path, toml, error):
    with pytest.raises(ConfigError) as e:
        load_toml(tmp_path, toml)
    assert error in str(e.value)


def test_links_config_accepts_every_generator(tmp_path):
    assert set(GENERATOR_CHOICES) == {"auto", "none", *GENERATORS}
    for name in GENERATOR_CHOICES:
        assert load_toml(tmp_path, f'[links]\ngenerator = "{name}"\nsite-root = "content"\nurl-prefix = "/docs"\n'
                         ).get("links", "generator") == name


def test_sites_are_not_resolved_for_pages_without_a_site(tmp_path: Path):
    """A plain wiki keeps its findings, messages and evidence as before."""
    res = crawl_check(make_wiki(tmp_path / "wiki", {"a.md": "# A\n\n[x](/docs/gone)\n"}), tmp_path / "idx")
    (f,) = of(res, "WC301")
    assert (f.message, f.evidence) == ("link to /docs/gone resolves to docs/gone, which does not exist",
                                      {"href": "/docs/gone", "resolved": "docs/gone"})
