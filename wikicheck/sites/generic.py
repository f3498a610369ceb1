"""A site of markdown or HTML pages with no generator config: ``[links] site-root`` in wikicheck.toml.

``ops/restart.md`` answers ``/ops/restart/``, ``/ops/restart.html`` and ``/ops/restart.md``;
``index``, ``_index`` and ``README`` pages their folder's URL. Never detected: only named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import Mount, Site, page_dir_url, split_ext

NAME = "generic"

PAGE_EXT = (".md", ".markdown", ".html", ".htm")


def find_config(folder: Path) -> Path | None:
    return None


def load(folder: Path, config_file: Path | None) -> Site:
    return Site(NAME, folder, None, (Mount("pages", folder.resolve()),))


def wants_front_matter(rel: str) -> bool:
    return False


def page_urls(site: Site, mount: Mount, rel: str, front: dict[str, Any]) -> list[str] | None:
    split = split_ext(rel, PAGE_EXT)
    if split is None:
        return None
    folder = page_dir_url(split[0], ("index", "_index", "readme"))
    return [folder, rel] if folder is not None else [split[0] + "/", split[0] + ".html", rel]


def folder_urls(site: Site, mount: Mount, rel: str) -> list[str]:
    return []
