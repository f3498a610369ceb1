"""MkDocs: pages in ``docs_dir`` (``docs/``), published at directory URLs unless told otherwise.

With ``use_directory_urls`` (the default) ``docs/ops/restart.md`` is published at ``/ops/restart/``,
without it at ``/ops/restart.html``; ``index.md`` and ``README.md`` at their folder's URL. Other
files in ``docs_dir`` are copied as they are. ``site_url``'s path is where the site is deployed.
Config: ``mkdocs.yml`` (or ``mkdocs.yaml``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .base import Mount, Site, page_dir_url, read_config, split_ext, url_path

NAME = "mkdocs"

PAGE_EXT = (".md", ".markdown", ".mdown", ".mkdn", ".mkd")


def find_config(folder: Path) -> Path | None:
    for name in ("mkdocs.yml", "mkdocs.yaml"):
        if (folder / name).is_file():
            return folder / name
    return None


def load(folder: Path, config_file: Path | None) -> Site:
    cfg = read_config(config_file) if config_file else {}
    docs = (folder / str(cfg.get("docs_dir") or "docs")).resolve()
    flags = {"directory-urls"} if cfg.get("use_directory_urls", True) is not False else set()
    return Site(NAME, folder, config_file, (Mount("docs", docs),),
                base_path=url_path(urlsplit(str(cfg.get("site_url") or "")).path), flags=frozenset(flags))


def wants_front_matter(rel: str) -> bool:
    return False  # MkDocs' URLs come from file names only


def page_urls(site: Site, mount: Mount, rel: str, front: dict[str, Any]) -> list[str] | None:
    split = split_ext(rel, PAGE_EXT)
    if split is None:
        return None
    stem, _ = split
    folder = page_dir_url(stem, ("index", "readme"))
    if folder is not None:
        return [folder]
    return [stem + "/"] if "directory-urls" in site.flags else [stem + ".html"]


def folder_urls(site: Site, mount: Mount, rel: str) -> list[str]:
    return []
