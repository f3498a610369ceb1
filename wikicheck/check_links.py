"""The links of crawled pages, and where they lead: what the link rule (WC301) and the deprecation
rule's "superseded by" (WC205) read through CheckContext, which inherits this."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlsplit

from .parse import markdown_tokens, split_front_matter


class PageLinks:
    """Link parsing and resolution over the pages and sections a check reads (set by CheckContext)."""

    sections_by_doc: dict[str, list[dict[str, Any]]]
    doc_by_path: dict[tuple[str, str], dict[str, Any]]
    doc_by_url: dict[str, dict[str, Any]]
    sources: dict[str, dict[str, Any]]
    _anchors: dict[str, set[str]]
    _links: dict[tuple[str, str], list[tuple[str, int | None]]]

    def front_matter_lines(self, doc: dict[str, Any]) -> int:
        if doc["kind"] != "markdown":
            return 0
        return split_front_matter(doc.get("text") or "")[1]

    def inline_tokens(self, doc: dict[str, Any]) -> Iterator[tuple[int, Any]]:
        """(page line, token) of every inline token of a markdown page, outside code, past its front
        matter: what a link reader walks (with the page parser's limits, see parse.markdown_tokens)."""
        fm = self.front_matter_lines(doc)
        body = "\n".join((doc.get("text") or "").split("\n")[fm:])
        for t in markdown_tokens(body):
            if t.type != "inline" or not t.children:
                continue
            line = (t.map[0] if t.map else 0) + fm + 1
            for c in t.children:
                if c.type in ("softbreak", "hardbreak"):
                    line += 1
                else:
                    yield line, c

    def links(self, doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
        # parsed once per distinct page text (copies of a page, a page in several sources)
        cache_key = (doc["kind"], doc.get("text") or "")
        found = self._links.get(cache_key)
        if found is None:
            found = self._links[cache_key] = [(str(x["href"]), x["line"]) for x in self._parse_links(doc)]
        for href, line in found:
            yield {"href": href, "line": line}

    def _parse_links(self, doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
        text = doc.get("text") or ""
        if doc["kind"] == "markdown":
            for line, c in self.inline_tokens(doc):
                if c.type == "link_open" and c.attrGet("href"):
                    yield {"href": str(c.attrGet("href")), "line": line}
                elif c.type == "image" and c.attrGet("src"):
                    yield {"href": str(c.attrGet("src")), "line": line}
        else:
            from .parse import html_main, html_soup

            root = html_main(html_soup(text))  # linear time on an unclosed "<!--" (issue 11)
            for a in root.find_all("a", href=True):
                yield {"href": a["href"], "line": getattr(a, "sourceline", None)}

    def link_target(self, doc: dict[str, Any], href: str) -> tuple[str, str, bool, set[str] | None] | None:
        """(resolved path, anchor, exists, anchors of the target) for an internal link, None otherwise."""
        href = href.strip()
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or href.startswith(("mailto:", "tel:", "{", "<")):
            return self._url_target(doc, href)
        path, anchor = unquote(parts.path), unquote(parts.fragment)
        if not path:
            return doc["path"], anchor, True, self.anchors(doc)
        base = posixpath.dirname(doc["path"])
        resolved = posixpath.normpath(posixpath.join(base, path)) if not path.startswith("/") else path.lstrip("/")
        if resolved.startswith("../"):
            return resolved, anchor, self._exists_on_disk(doc, resolved), None
        target = self.doc_by_path.get((doc["source"], resolved))
        if target is None and resolved.endswith("/"):
            target = self.doc_by_path.get((doc["source"], resolved + "index.md"))
        if target is None and not posixpath.splitext(resolved)[1]:
            for ext in (".md", ".html", "/index.md", "/README.md"):
                target = self.doc_by_path.get((doc["source"], resolved + ext))
                if target:
                    break
        if target is not None:
            return target["path"], anchor, True, self.anchors(target)
        return resolved, anchor, self._exists_on_disk(doc, resolved), None

    def _url_target(self, doc: dict[str, Any], href: str) -> tuple[str, str, bool, set[str] | None] | None:
        # links to pages of a crawled site are internal links too
        src = self.sources.get(doc["source"])
        if not src or src["kind"] != "http" or not href.startswith(("http://", "https://")):
            return None
        d = self.doc_by_url.get(href.split("#")[0].rstrip("/"))
        return (d["path"], urlsplit(href).fragment, True, self.anchors(d)) if d else None

    def _exists_on_disk(self, doc: dict[str, Any], rel: str) -> bool:
        src = self.sources.get(doc["source"])
        if not src or src["kind"] not in ("folder", "git"):
            return False
        return (Path(src["root"]) / rel).exists()

    def anchors(self, doc: dict[str, Any]) -> set[str]:
        cache = self._anchors
        if doc["id"] not in cache:
            from .parse import heading_anchors

            cache[doc["id"]] = heading_anchors(doc.get("text") or "", doc["kind"])
        return cache[doc["id"]]

    def resolve_link(self, doc: dict[str, Any], ref: str) -> dict[str, Any] | None:
        """The section a reference (relative link, or a path in the source) points to."""
        ref = str(ref).strip()
        m = re.search(r"\(([^)\s]+)\)", ref)
        if m:
            ref = m.group(1)
        for candidate in (ref, "/" + ref.lstrip("/")):
            t = self.link_target(doc, candidate)
            if t and t[2]:
                target = self.doc_by_path.get((doc["source"], t[0]))
                if target:
                    secs = self.sections_by_doc.get(target["id"], [])
                    if t[1]:
                        for s in secs:
                            if s["anchor"] == t[1].lower():
                                return s
                    return secs[0] if secs else None
        return None


__all__ = ["PageLinks"]
