"""Internal link or anchor that resolves to no page, file or section.

Relative links are resolved against the page's folder in the same source; ``#anchor`` against the
target page's headings (GitHub-style slugs) and explicit ``id``/``name`` anchors. External URLs
are not fetched. Informational by default: a dead link does not make the section's own advice
wrong; raise the level where link hygiene is enforced.

On a static site, a link that names no file is resolved as the URL the site generator publishes:
``/docs/add-runbook`` is Hugo's ``content/docs/add-runbook.md``, ``/manual/cdn.html`` Middleman's
``source/manual/cdn.html.md``, ``../restart/`` a sibling MkDocs page, and Hugo's ``ref``/``relref``
shortcodes are checked too. Hugo, MkDocs, Docusaurus and Middleman are detected from their config
file in the crawled folder or a parent up to the git work tree (else in its sub-folders, as
``website/docusaurus.config.js``); ``[links]`` in wikicheck.toml sets ``generator``, ``site-root``
and ``url-prefix`` by hand. Only pages the generator renders are resolved as the site's.

Passes: ``[restart](../platform/pgbouncer.md#restart)`` when that page has a "Restart" heading.
Fails: ``[rollback](../platform/pgbouncer.md#rollback-procedure)`` when it has no such heading.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from weakref import WeakKeyDictionary

from ..sites import SiteLinks, site_links
from .base import RuleHit

CODE = "WC301"
NAME = "broken-link"
SCOPE = "document"
KINDS = ("broken_link",)
OPTIONS = {"check-anchors": bool}
DEFAULTS = {"check-anchors": True, "level": "info"}
AGE_RULE = False

# one site map per source and check run: it walks the site's folders, so it is built once
_SITES: WeakKeyDictionary[Any, dict[str, list[SiteLinks]]] = WeakKeyDictionary()

# (path shown, exists, anchors of the target page or None when unknown)
Target = tuple[str, bool, "set[str] | None"]


def check(doc: dict[str, Any], options: dict[str, Any], ctx: Any) -> Iterator[RuleHit]:
    site = next((s for s in _sites(ctx, doc["source"]) if s.renders(doc["path"])), None)
    for link in ctx.links(doc):
        href, line = link["href"], link["line"]
        target = ctx.link_target(doc, href)
        if target is None:
            continue  # external, mailto, or not a link we can check
        path, anchor, exists, anchors = target
        if not exists and site is not None:
            found = site.target(doc["path"], unquote(urlsplit(href.strip()).path))
            if found is not None:
                path, exists, anchors = _page(ctx, site, doc, found)
        if not exists:
            yield _missing(doc, line, href, path, site)
        elif anchor and options["check-anchors"] and anchors is not None and anchor.lower() not in anchors:
            yield _no_anchor(doc, line, href, path, anchor)
    if site is not None and site.ref_pattern is not None and doc["kind"] == "markdown":
        yield from _refs(doc, options, ctx, site)


def _sites(ctx: Any, source: str) -> list[SiteLinks]:
    """The sites of a crawled folder, from their generators' config or [links]; none for http."""
    per_run = _SITES.setdefault(ctx, {})
    if source not in per_run:
        src = ctx.sources.get(source)
        per_run[source] = []
        if src and src["kind"] in ("folder", "git") and Path(src["root"]).is_dir():
            links = {k: ctx.config.get("links", k) for k in ("generator", "site-root", "url-prefix")}
            per_run[source] = site_links(Path(src["root"]), links)
    return per_run[source]


def _page(ctx: Any, site: SiteLinks, doc: dict[str, Any], file: Path) -> Target:
    """A file the site publishes: the crawled page (its anchors known) or a file on disk."""
    rel = site.relative(file)
    page = ctx.doc_by_path.get((doc["source"], rel)) if rel is not None else None
    if page is not None:
        return page["path"], True, ctx.anchors(page)
    return site.describe_path(file), True, None


def _missing(doc: dict[str, Any], line: int | None, href: str, path: str, site: SiteLinks | None) -> RuleHit:
    evidence = {"href": href, "resolved": path}
    message = f"link to {href} resolves to {path}, which does not exist"
    if site is not None:
        evidence["site"] = site.site.generator
        message += f", nor to a page of {site.site.describe()}"
    return RuleHit(kind="broken_link", document_id=doc["id"], line=line, message=message, evidence=evidence, key=href)


def _no_anchor(doc: dict[str, Any], line: int | None, href: str, path: str, anchor: str) -> RuleHit:
    return RuleHit(kind="broken_link", document_id=doc["id"], line=line,
                   message=f"link to {href}: {path} has no section #{anchor}",
                   evidence={"href": href, "resolved": path, "anchor": anchor}, key=href)


def _refs(doc: dict[str, Any], options: dict[str, Any], ctx: Any, site: SiteLinks) -> Iterator[RuleHit]:
    """Cross-reference shortcodes ({{< ref "x.md" >}}): markdown sees text, the generator a link."""
    for line, ref in _shortcode_refs(doc, ctx, site):
        found = site.ref_target(doc["path"], ref)
        anchor = unquote(ref.split("#", 1)[1]) if "#" in ref else ""
        if found is None:
            yield RuleHit(kind="broken_link", document_id=doc["id"], line=line,
                          message=f'ref "{ref}" names no page of {site.site.describe()}',
                          evidence={"href": ref, "resolved": None, "site": site.site.generator}, key=ref)
            continue
        path, _, anchors = _page(ctx, site, doc, found)
        if anchor and options["check-anchors"] and anchors is not None and anchor.lower() not in anchors:
            yield _no_anchor(doc, line, ref, path, anchor)


def _shortcode_refs(doc: dict[str, Any], ctx: Any, site: SiteLinks) -> Iterator[tuple[int, str]]:
    """(line, ref) of each shortcode in the page's text, not in code: the lines links() would give."""
    pattern = site.ref_pattern
    if pattern is None:
        return
    for line, c in ctx.inline_tokens(doc):
        if c.type == "text":
            for m in pattern.finditer(c.content):
                yield line, m.group(1)
