"""A page's YAML front matter: read safely (size, alias bombs, control characters, impossible
dates), stripped from the page even when broken, and turned into JSON-able values."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import yaml

from ..dates import parse_date


class FrontMatterError(ValueError):
    """Front matter that is not valid YAML mapping."""


_FM_OPEN = re.compile(r"^---\s*$")
_FM_CLOSE = re.compile(r"^(---|\.\.\.)\s*$")


def split_front_matter(text: str) -> tuple[dict[str, Any], int, str | None]:
    """Return (meta, number of lines the front matter takes, error or None).

    Broken front matter is still stripped (when it is closed), so that its lines never leak into a
    section, and the error is returned for a warning.
    """
    lines = text.split("\n")
    if not lines or not _FM_OPEN.match(lines[0]):
        return {}, 0, None
    for i in range(1, min(len(lines), 500)):
        if _FM_CLOSE.match(lines[i]):
            block = "\n".join(lines[1:i])
            if len(block) > _MAX_FRONT_MATTER_CHARS:  # PyYAML reads ~150 KB a second: never megabytes of it
                return {}, i + 1, (f"front matter is over {_MAX_FRONT_MATTER_CHARS // 1024} KB "
                                   f"({len(block) // 1024} KB); not read, fix or shorten it")
            try:
                # made inside the try: PyYAML's reader rejects control characters as the loader is made
                loader = _FrontMatterLoader(block)
            except yaml.reader.ReaderError as e:
                return {}, i + 1, _unreadable_yaml(block, e)
            try:
                meta = loader.get_single_data() if block.strip() else {}
                if meta is None:
                    meta = {}
                if not isinstance(meta, dict):
                    return {}, i + 1, "front matter is not a mapping of keys to values"
                meta = {str(k): _jsonable(v, [_MAX_META_NODES]) for k, v in meta.items()}
            except yaml.YAMLError as e:
                mark = getattr(e, "problem_mark", None)
                where = f" at line {mark.line + 2}" if mark is not None else ""
                return {}, i + 1, f"broken front matter{where}: {getattr(e, 'problem', None) or e}"
            except (ValueError, TypeError, RecursionError) as e:
                return {}, i + 1, f"broken front matter: {e}"
            finally:
                loader.dispose()
            if loader.bad_dates:
                bad = ", ".join(f"`{d}`" for d in loader.bad_dates[:3])
                return meta, i + 1, f"front matter has a date that does not exist ({bad}); kept as text, not used as a date"
            return meta, i + 1, None
    return {}, 0, "front matter opened with --- but never closed; treated as text"


def _unreadable_yaml(block: str, e: yaml.reader.ReaderError) -> str:
    """One line naming the character YAML refuses (a terminal escape, a NUL) and its line in the file."""
    char = e.character if isinstance(e.character, int) else ord(e.character[:1] or b"\0")
    line = block.count("\n", 0, max(0, e.position)) + 2  # the front matter starts on the file's line 2
    return f"broken front matter at line {line}: character U+{char:04X} is not allowed in YAML"


_MAX_FRONT_MATTER_CHARS = 64 * 1024  # real front matter is a few lines; a page's text goes below it
_MAX_META_NODES = 10_000  # values in one page's front matter: far above any real page, far below an alias bomb


class _FrontMatterLoader(yaml.SafeLoader):
    """YAML's safe loader, but an impossible date (`updated: 2024-13-45`) stays text instead of
    raising: one bad value must not cost the page (or a whole crawl) its front matter."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.bad_dates: list[str] = []

    def construct_yaml_timestamp(self, node):  # type: ignore[no-untyped-def]
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            self.bad_dates.append(str(node.value))
            return str(node.value)


_FrontMatterLoader.add_constructor("tag:yaml.org,2002:timestamp", _FrontMatterLoader.construct_yaml_timestamp)


def _jsonable(v: Any, budget: list[int] | None = None) -> Any:
    """Front matter values as JSON-able data. YAML aliases share one object between many places
    (a "billion laughs" bomb is a few hundred bytes); `budget` caps the values copied out."""
    if budget is not None:
        budget[0] -= 1
        if budget[0] < 0:
            raise ValueError(f"more than {_MAX_META_NODES} values (a YAML alias bomb?)")
    if isinstance(v, (dt.date, dt.datetime)):
        return parse_date(v)
    if isinstance(v, dict):
        return {str(k): _jsonable(x, budget) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x, budget) for x in v]
    return v

