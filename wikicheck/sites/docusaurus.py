"""Docusaurus: docs in ``docs/`` published under ``routeBasePath`` (``/docs``), pages in ``src/pages/``.

``docs/ops/01-restart.md`` is published at ``/docs/ops/restart`` (number prefixes dropped);
``index``, ``README`` and a doc named like its folder at the folder's URL; ``id`` and ``slug`` in
front matter move a doc (``slug: /x`` is under ``routeBasePath``). ``static/`` is copied to the
site root, and ``baseUrl`` is where the site is deployed. The docs plugin's ``path`` and
``routeBasePath`` are read from the ``docs: {...}`` options of docusaurus.config.js (or .ts, .mjs,
.cjs) with a pattern, not by running it; versioned docs, the blog and i18n are not mapped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .base import Mount, Site, join_url, page_dir_url, split_ext, url_path

NAME = "docusaurus"

DOC_EXT = (".mdx", ".md")
PAGE_EXT = (".mdx", ".md", ".tsx", ".jsx", ".ts", ".js")
_CONFIGS = ("docusaurus.config.js", "docusaurus.config.ts", "docusaurus.config.mjs", "docusaurus.config.cjs")
_NUMBER_PREFIX = re.compile(r"^\d+\s*[-_.]+\s*(?=[^-_.\s])")


def find_config(folder: Path) -> Path | None:
    for name in _CONFIGS:
        if (folder / name).is_file():
            return folder / name
    return None


def _string_option(text: str, key: str) -> str | None:
    m = re.search(rf"\b{key}\s*:\s*(['\"`])([^'\"`]*)\1", text)
    return m.group(2) if m else None


def _docs_options(text: str) -> str | None:
    """The text of the `docs: {...}` options (brace-matched); "" when there are none, None for `docs: false`."""
    if re.search(r"\bdocs\s*:\s*false\b", text):
        return None
    m = re.search(r"\bdocs\s*:\s*\{", text)
    if not m:
        return ""
    depth, i = 1, m.end()
    while i < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[m.end():i - 1]


def load(folder: Path, config_file: Path | None) -> Site:
    try:
        text = config_file.read_text(encoding="utf-8") if config_file else ""
    except (OSError, UnicodeDecodeError):
        text = ""
    docs = _docs_options(text)
    mounts = []
    if docs is not None:
        route = _string_option(docs, "routeBasePath")
        mounts.append(Mount("docs", (folder / (_string_option(docs, "path") or "docs")).resolve(),
                            url_path(route if route is not None else "docs")))
    mounts += [Mount("pages", (folder / "src" / "pages").resolve()), Mount("static", (folder / "static").resolve(), static=True)]
    return Site(NAME, folder, config_file, tuple(mounts), base_path=url_path(_string_option(text, "baseUrl") or ""))


def wants_front_matter(rel: str) -> bool:
    return split_ext(rel, DOC_EXT) is not None


def page_urls(site: Site, mount: Mount, rel: str, front: dict[str, Any]) -> list[str] | None:
    if mount.name == "pages":
        return _page_urls(rel)
    split = split_ext(rel, DOC_EXT)
    if split is None:
        return None
    parts = [_NUMBER_PREFIX.sub("", p) for p in split[0].split("/")]
    head = "/".join(parts[:-1])
    doc_id = front.get("id")
    name = str(doc_id) if isinstance(doc_id, (str, int)) and str(doc_id).strip() else parts[-1]
    slug = front.get("slug")
    if isinstance(slug, str) and slug.strip():
        return [url_path(slug) if slug.startswith("/") else join_url(head, slug)]
    if name.lower() in ("index", "readme") or (len(parts) > 1 and name == parts[-2]):
        return [head]
    return [join_url(head, name)]


def _page_urls(rel: str) -> list[str] | None:
    split = split_ext(rel, PAGE_EXT)
    if split is None:
        return None
    if any(p.startswith("_") for p in rel.split("/")):
        return []  # Docusaurus does not publish _files of src/pages
    folder = page_dir_url(split[0], ("index",))
    return [folder if folder is not None else split[0]]


def folder_urls(site: Site, mount: Mount, rel: str) -> list[str]:
    return []
