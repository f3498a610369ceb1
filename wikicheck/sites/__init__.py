"""Site generators, registered explicitly: links resolved the way the generator publishes pages.

A runbook repository that is also a static site links pages by their published URL
(``/docs/add-runbook`` for Hugo's ``content/docs/add-runbook.md``, ``/manual/cdn.html`` for
Middleman's ``source/manual/cdn.html.md``, ``../restart/`` between MkDocs pages), which names no
file; checked as file paths, most such links looked broken (#12). The generator is detected from
its config file in the crawled folder or a parent up to the git work tree (else in a sub-folder),
or named in wikicheck.toml (``[links]``). A new generator is one module here plus one entry in
GENERATORS.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from . import docusaurus, generic, hugo, middleman, mkdocs
from .base import Generator, Mount, Site, join_url, read_front_matter, url_path

# detection order, for a folder holding more than one config file: the unambiguous names first
GENERATORS: dict[str, Generator] = {
    m.NAME: m  # type: ignore[misc]
    for m in (mkdocs, docusaurus, hugo, middleman, generic)
}
# values of [links] generator: "auto" detects, "none" resolves links as files only
GENERATOR_CHOICES = ("auto", "none", *GENERATORS)

MAX_FILES = 100_000  # a site map walks the site's folders once per check run
_SKIP_DIRS = {"node_modules", "__pycache__"}

__all__ = ["GENERATORS", "GENERATOR_CHOICES", "Mount", "Site", "SiteLinks", "SiteMap", "detect_sites", "site_links"]


def _folders_up(root: Path) -> list[Path]:
    """The crawled folder and its parents up to the git work tree's top (a crawl of repo/content
    must find repo/hugo.toml); the folder alone when it is not in a work tree."""
    folders = []
    for d in (root, *root.parents):
        folders.append(d)
        if (d / ".git").exists():
            return folders
    return [root]


def detect_sites(root: Path, generator: str = "auto", site_root: str = "", url_prefix: str = "") -> list[Site]:
    """The sites whose pages the crawled folder `root` holds: the site it is (part of), else those in
    its sub-folders (website/docusaurus.config.js beside docs/, site/hugo.toml); [] for none.

    `generator` "auto" looks for each generator's config file; a named one uses its config file
    when found, its defaults otherwise. `site_root` (relative to `root`) and `url_prefix` override
    the folder and URL path of the site's pages.
    """
    if generator == "none":
        return []
    root = root.resolve()
    names = list(GENERATORS) if generator == "auto" else [generator]
    site = _find_site(_folders_up(root), names)
    if site is None and generator == "auto" and not (site_root or url_prefix):
        return [s for s in (_find_site([d], names) for d in _sub_folders(root)) if s is not None]
    if site is None and (generator != "auto" or site_root):
        site = GENERATORS["generic" if generator == "auto" else generator].load(root, None)
    return [_override(site, root, site_root, url_prefix)] if site is not None else []


def _sub_folders(root: Path) -> list[Path]:
    try:
        return sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name not in _SKIP_DIRS)
    except OSError:
        return []


def _override(site: Site, root: Path, site_root: str, url_prefix: str) -> Site:
    """The site with its pages' folder and URL prefix set by [links]."""
    if not (site_root or url_prefix):
        return site
    pages = next(i for i, m in enumerate(site.mounts) if not m.static)
    m = site.mounts[pages]
    m = Mount(m.name, (root / site_root).resolve() if site_root else m.folder, url_path(url_prefix) if url_prefix else m.prefix)
    return Site(site.generator, site.root, site.config_file, (*site.mounts[:pages], m, *site.mounts[pages + 1:]),
                site.base_path, site.lowercase, site.flags)


def _find_site(folders: list[Path], names: list[str]) -> Site | None:
    for folder in folders:
        for name in names:
            config_file = GENERATORS[name].find_config(folder)
            if config_file is not None:
                return GENERATORS[name].load(folder, config_file)
    return None


class SiteMap:
    """Every URL of a site mapped back to the file it is published from, and each page's own URL."""

    def __init__(self, site: Site, max_files: int = MAX_FILES):
        self.site = site
        self.generator = GENERATORS[site.generator]
        self._by_url: dict[str, Path] = {}
        self._url_of: dict[Path, str] = {}
        self._budget = max_files
        for mount in site.mounts:
            self._add_mount(mount)

    def key(self, path: str) -> str:
        """What two spellings of one URL share: no slashes at the ends, no index.html, case if lowered."""
        parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
        if parts and parts[-1].lower() in ("index.html", "index.htm"):
            parts.pop()
        key = "/".join(parts)
        return key.lower() if self.site.lowercase else key

    def _add(self, mount: Mount, url: str, file: Path, primary: bool) -> None:
        full = "/" + join_url(mount.prefix, url)
        if url == "" or url.endswith("/"):
            full = full.rstrip("/") + "/"
        self._by_url.setdefault(self.key(full), file)
        if primary:
            self._url_of.setdefault(file, full)

    def _add_mount(self, mount: Mount) -> None:
        if not mount.folder.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(mount.folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
            rel_dir = Path(dirpath).relative_to(mount.folder).as_posix()
            if rel_dir != "." and not mount.static:
                for url in self.generator.folder_urls(self.site, mount, rel_dir):
                    self._add(mount, url, Path(dirpath), primary=False)
            for name in sorted(filenames):
                self._budget -= 1
                if self._budget < 0:
                    return
                self._add_file(mount, Path(dirpath) / name, name if rel_dir == "." else f"{rel_dir}/{name}")

    def _add_file(self, mount: Mount, file: Path, rel: str) -> None:
        urls = None
        if not mount.static:
            front = read_front_matter(file) if self.generator.wants_front_matter(rel) else {}
            urls = self.generator.page_urls(self.site, mount, rel, front)
        for i, url in enumerate([rel] if urls is None else urls):
            self._add(mount, url, file, primary=i == 0 and urls is not None)

    def page_url(self, file: Path) -> str | None:
        """The URL path the page `file` is published at, None when the site renders no such page."""
        return self._url_of.get(file)

    def find(self, url: str) -> Path | None:
        """The file published at a site-absolute URL path, with or without the deployment prefix."""
        path = url_path(url)
        tries = [path]
        base = self.site.base_path
        if base and (path + "/").startswith(base + "/"):
            tries.insert(0, path[len(base):])
        for p in tries:
            found = self._by_url.get(self.key(p))
            if found is not None:
                return found
        return None


class SiteLinks:
    """The links of one crawled source's pages, resolved the way its site generator publishes them."""

    def __init__(self, site: Site, source_root: Path):
        self.site = site
        self.map = SiteMap(site)
        self.source_root = source_root.resolve()

    def target(self, doc_path: str, href_path: str) -> Path | None:
        """The file a link's path (no #anchor, no ?query) leads to on the published site.

        Only files the generator renders are resolved: a site-absolute link in a README outside the
        site's folders names the repository, not the site. A relative link is joined to the page's
        own URL, as a browser would (`../restart/` from `/ops/deploy/`).
        """
        if not href_path or not self.renders(doc_path):
            return None
        if href_path.startswith("/"):
            return self.map.find(href_path)
        page_url = self.map.page_url(self.source_root / doc_path)
        return self.map.find(urljoin(page_url, href_path)) if page_url is not None else None

    def relative(self, file: Path) -> str | None:
        """`file` as a path in the crawled source, None when it lies outside it."""
        try:
            return file.relative_to(self.source_root).as_posix()
        except ValueError:
            return None

    def renders(self, doc_path: str) -> bool:
        """Whether the generator renders the file (a page, or a template such as Hugo's layouts/404.html),
        so that its site-absolute links name the site's URLs."""
        page = self.source_root / doc_path
        return any(not m.static and page.is_relative_to(m.folder) for m in self.site.mounts)

    @property
    def ref_pattern(self) -> re.Pattern[str] | None:
        """The generator's cross-reference shortcode (Hugo's ref/relref), None if it has none."""
        return getattr(GENERATORS[self.site.generator], "REF", None)

    def ref_target(self, doc_path: str, ref: str) -> Path | None:
        """The page a cross-reference shortcode names, None when there is none."""
        candidates = getattr(GENERATORS[self.site.generator], "ref_candidates", None)
        pages = next((m for m in self.site.mounts if not m.static), None)
        if candidates is None or pages is None:
            return None
        page = self.source_root / doc_path
        return next((f for f in candidates(pages.folder, page.parent, ref) if f.is_file()), None)

    def describe_path(self, file: Path) -> str:
        """Where a file is, for messages: relative to the source, else to the site's root."""
        rel = self.relative(file)
        if rel is not None:
            return rel
        try:
            return file.relative_to(self.site.root).as_posix()
        except ValueError:
            return file.as_posix()


def site_links(source_root: Path, options: dict[str, Any]) -> list[SiteLinks]:
    """SiteLinks for each site of a crawled folder, from the [links] options (generator, site-root, url-prefix)."""
    sites = detect_sites(source_root, str(options.get("generator") or "auto"), str(options.get("site-root") or ""),
                         str(options.get("url-prefix") or ""))
    return [SiteLinks(site, source_root) for site in sites]
