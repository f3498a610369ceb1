"""What the engines read from a page's markup: an element's text, a meta tag, classes, the title
tag, and the dates wiki engines print; PageMeta holds what they found."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from bs4 import BeautifulSoup, Tag

from ...dates import iso, parse_date


@dataclass
class PageMeta:
    """When the page last changed, who changed it, its version, and how we know."""

    changed_at: str | None = None
    author: str | None = None
    version: str | None = None
    timestamp_source: str | None = None  # "page_meta" (the engine's markup) | "html_meta" (generic meta tags)


_EXTRA_DATE_FORMATS = (
    "%d %B %Y %H:%M", "%d %b %Y %H:%M", "%d %b %Y", "%B %d, %Y %H:%M", "%b %d, %Y %H:%M",
    "%B %d, %Y %H:%M:%S", "%b %d, %Y %H:%M:%S", "%B %d %Y", "%b %d %Y",
)


def page_date(text: object) -> str | None:
    """parse_date, plus the forms wiki engines print ("18 June 2026, at 10:15", "Jun 18, 2026 10:15")."""
    if text is None:
        return None
    s = re.sub(r"\s+", " ", str(text)).strip().rstrip(".")
    s = re.sub(r"\s*\((UTC|GMT)\)$", "", s).replace(", at ", " ")
    d = parse_date(s)
    if d:
        return d
    for fmt in _EXTRA_DATE_FORMATS:
        try:
            return iso(dt.datetime.strptime(s, fmt))
        except ValueError:
            continue
    return None


def text_of(el: Tag | None) -> str | None:
    if el is None:
        return None
    t = re.sub(r"\s+", " ", el.get_text(" ", strip=True)).strip()
    return t or None


def meta_content(soup: BeautifulSoup, name: str) -> str | None:
    tag = soup.find("meta", attrs={"name": name}) or soup.find("meta", attrs={"property": name})
    v = tag.get("content") if tag else None
    return v.strip() if isinstance(v, str) and v.strip() else None


def classes_of(el: Tag) -> list[str]:
    c: Any = el.get("class") or []
    return c if isinstance(c, list) else str(c).split()


def title_tag(soup: BeautifulSoup, seps: tuple[str, ...] = (" - ", " | ", " — ", " · ")) -> str | None:
    if not soup.title or not soup.title.string:
        return None
    t = soup.title.string.strip()
    for sep in seps:  # "Page - Site name"
        if sep in t:
            return t.split(sep)[0].strip() or t
    return t or None

