"""Middleman: every file in ``source/`` is published under its name less its template extensions.

``source/manual/cdn.html.md`` (or ``.html.erb``, ``.html.haml``, ``.html.md.erb``, ...) is published
at ``/manual/cdn.html``, and with ``activate :directory_indexes`` at ``/manual/cdn/`` too;
``layouts/`` and files named ``_partial`` are not published. ``set :source`` and
``set :http_prefix`` are read from config.rb with a pattern, not by running it.
Config: ``config.rb`` that sets or activates something, beside a source folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .base import Mount, Site, url_path

NAME = "middleman"

# template engines Middleman renders through; the name keeps the extension before them (.html)
TEMPLATE_EXT = (".md", ".markdown", ".mkd", ".erb", ".haml", ".slim", ".liquid", ".builder", ".str", ".scss", ".sass",
                ".coffee", ".less", ".styl")
_MIDDLEMAN = re.compile(r"^\s*(?:activate|set|configure|page|ignore|proxy)\s+:?\w", re.MULTILINE)


def _setting(text: str, key: str) -> str | None:
    m = re.search(rf"^\s*(?:set|config\[)\s*:{key}\]?\s*[,=]\s*['\"]([^'\"]*)['\"]", text, re.MULTILINE)
    return m.group(1) if m else None


def _read(config_file: Path | None) -> str:
    try:
        return config_file.read_text(encoding="utf-8") if config_file else ""
    except (OSError, UnicodeDecodeError):
        return ""


def find_config(folder: Path) -> Path | None:
    cfg = folder / "config.rb"
    if not cfg.is_file():
        return None
    text = _read(cfg)
    return cfg if _MIDDLEMAN.search(text) and (folder / (_setting(text, "source") or "source")).is_dir() else None


def load(folder: Path, config_file: Path | None) -> Site:
    text = _read(config_file)
    flags = {"directory-indexes"} if re.search(r"^\s*activate\s+:directory_indexes\b", text, re.MULTILINE) else set()
    source = (folder / (_setting(text, "source") or "source")).resolve()
    return Site(NAME, folder, config_file, (Mount("source", source),),
                base_path=url_path(_setting(text, "http_prefix") or ""), flags=frozenset(flags))


def wants_front_matter(rel: str) -> bool:
    return False


def output_name(rel: str) -> str:
    """`manual/cdn.html.md.erb` -> `manual/cdn.html`: template extensions go while another extension remains."""
    head, _, name = rel.rpartition("/")
    while True:
        stem, dot, ext = name.rpartition(".")
        if not dot or "." not in stem or f".{ext.lower()}" not in TEMPLATE_EXT:
            break
        name = stem
    return f"{head}/{name}" if head else name


def page_urls(site: Site, mount: Mount, rel: str, front: dict[str, Any]) -> list[str] | None:
    parts = rel.split("/")
    if parts[0] == "layouts" or any(p.startswith("_") for p in parts):
        return []
    out = output_name(rel)
    urls = [out]
    if "directory-indexes" in site.flags and out.lower().endswith(".html") and not out.lower().endswith("index.html"):
        urls.append(out[: -len(".html")] + "/")
    return urls


def folder_urls(site: Site, mount: Mount, rel: str) -> list[str]:
    return []
