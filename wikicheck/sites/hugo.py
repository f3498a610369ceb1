"""Hugo: pages in ``content/`` (``contentDir``), files in ``static/``, URLs lowercased.

``content/docs/add-runbook.md`` is published at ``/docs/add-runbook/`` (``.html`` with ``uglyURLs``),
``content/docs/_index.md`` and ``content/docs/x/index.md`` at their folder's URL; ``url``, ``slug``
and ``aliases`` in front matter add URLs; every top-level folder of ``content/`` is a section page.
Templates (``layouts/``, the theme's ``layouts/``) render pages, so their links are site URLs too.
``baseURL``'s path is where the site is deployed. ``permalinks`` patterns are not read.
Config: ``hugo.toml`` (or .yaml/.json), ``config.toml`` (or .yaml/.json) next to a content folder,
or ``config/_default/``.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .base import Mount, Site, join_url, page_dir_url, read_config, split_ext, url_path

NAME = "hugo"

PAGE_EXT = (".md", ".markdown", ".mdown", ".html", ".htm", ".adoc", ".asciidoc", ".ad", ".org", ".rst", ".pandoc", ".pdc")
_NAMES = ("hugo", "config")
_FORMATS = (".toml", ".yaml", ".yml", ".json")
# keys a Hugo config has and other tools' config.yaml rarely does (Hugo's keys are case-insensitive)
_HUGO_KEYS = {"baseurl", "theme", "contentdir", "languagecode", "params", "markup", "permalinks", "taxonomies",
              "module", "menu", "menus"}

# {{< ref "path" >}} and {{% relref "path#anchor" %}}: Hugo's own cross-references
REF = re.compile(r"\{\{[<%]\s*(?:rel)?ref\s+\"([^\"]+)\"\s*[>%]\}\}")


def _config_files(folder: Path) -> list[Path]:
    files = [folder / f"{n}{ext}" for n in _NAMES for ext in _FORMATS]
    files += [folder / "config" / "_default" / f"{n}{ext}" for n in _NAMES for ext in _FORMATS]
    return [f for f in files if f.is_file()]


def _settings(config_file: Path | None) -> dict[str, Any]:
    data = read_config(config_file) if config_file else {}
    return {str(k).lower(): v for k, v in data.items()}


def find_config(folder: Path) -> Path | None:
    """hugo.* is Hugo's own name; a config.* counts only with Hugo keys and a content folder beside it."""
    for f in _config_files(folder):
        if f.stem == "hugo":
            return f
        cfg = _settings(f)
        content = str(cfg.get("contentdir") or "content")
        if _HUGO_KEYS & set(cfg) and (folder / content).is_dir():
            return f
    return None


def load(folder: Path, config_file: Path | None) -> Site:
    cfg = _settings(config_file)
    static = cfg.get("staticdir") or "static"
    statics = [static] if isinstance(static, str) else [s for s in static if isinstance(s, str)]
    mounts = [Mount("content", (folder / str(cfg.get("contentdir") or "content")).resolve())]
    mounts += [Mount("static", (folder / s).resolve(), static=True) for s in statics]
    # templates render pages too (layouts/404.html), so their links are site URLs
    themes = cfg.get("theme") or []
    for theme in [themes] if isinstance(themes, str) else [t for t in themes if isinstance(t, str)]:
        mounts.append(Mount("layouts", (folder / str(cfg.get("themesdir") or "themes") / theme / "layouts").resolve()))
    mounts.append(Mount("layouts", (folder / "layouts").resolve()))
    flags = {"ugly-urls"} if cfg.get("uglyurls") is True else set()
    return Site(NAME, folder, config_file, tuple(mounts), base_path=url_path(urlsplit(str(cfg.get("baseurl") or "")).path),
                lowercase=cfg.get("disablepathtolower") is not True, flags=frozenset(flags))


def wants_front_matter(rel: str) -> bool:
    return split_ext(rel, PAGE_EXT) is not None


def page_urls(site: Site, mount: Mount, rel: str, front: dict[str, Any]) -> list[str] | None:
    if mount.name == "layouts":
        return [rel] if rel == "404.html" else []  # the one template published under its own name
    split = split_ext(rel, PAGE_EXT)
    if split is None:
        return None  # a page resource or a file: published where it lies
    stem, _ = split
    folder = page_dir_url(stem, ("_index", "index"))
    if folder is not None:
        urls = [folder]
    else:
        head = posixpath.dirname(stem)
        slug = front.get("slug")
        stem = join_url(head, str(slug)) if isinstance(slug, (str, int)) and str(slug).strip() else stem
        urls = [stem + (".html" if "ugly-urls" in site.flags else "/")]
    if isinstance(front.get("url"), str):
        urls.append(_site_relative(site, front["url"]))
    aliases = front.get("aliases")
    for alias in aliases if isinstance(aliases, list) else []:
        if isinstance(alias, str):
            urls.append(_site_relative(site, alias) if alias.startswith("/") else join_url(posixpath.dirname(stem), alias))
    return urls


def _site_relative(site: Site, url: str) -> str:
    """A front matter `url` or alias is site-absolute: as a path under the content mount's prefix."""
    path = url_path(url)
    if site.base_path and (path + "/").startswith(site.base_path + "/"):
        path = url_path(path[len(site.base_path):])
    return path + ("/" if url.endswith("/") else "")


def folder_urls(site: Site, mount: Mount, rel: str) -> list[str]:
    # Hugo makes a section page for every top-level folder of content/, _index.md or not
    return [rel + "/"] if "/" not in rel else []


def ref_candidates(content: Path, page_dir: Path, ref: str) -> list[Path]:
    """Files a {{< ref >}} may name: relative to the page, then to content/; the extension may be left out."""
    path = ref.split("#", 1)[0].strip()
    if not path:
        return []
    bases = [content / path.lstrip("/")] if path.startswith("/") else [page_dir / path, content / path]
    out: list[Path] = []
    for base in bases:
        out.append(base)
        out += [base.with_name(base.name + ext) for ext in (".md", ".markdown", ".html")]
        out += [base / "_index.md", base / "index.md"]
    return out
