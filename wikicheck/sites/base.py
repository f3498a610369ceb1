"""What every site generator module shares: where a site's pages come from, and small readers.

A static-site generator publishes the files of a few folders (Hugo's ``content/`` and ``static/``,
MkDocs' ``docs_dir``, ...) under URL paths of its own; a link such as ``/docs/add-runbook`` names
such a URL, not a file. A generator module says where the folders are (from its config file) and
which URLs each file gets, so that a link can be traced back to the file that serves it.
"""

from __future__ import annotations

import json
import posixpath
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# bytes read from a page to find its front matter (a slug or url is near the top)
_FRONT_MATTER_BYTES = 16 * 1024


@dataclass(frozen=True)
class Mount:
    """A folder the generator publishes under a URL path."""

    name: str  # what the generator calls it: "content", "docs", "pages", "static", "source"
    folder: Path  # absolute
    prefix: str = ""  # URL path it is published under, without slashes at the ends: "" or "docs"
    static: bool = False  # files are copied as they are (Hugo's static/), not rendered as pages


@dataclass(frozen=True)
class Site:
    """A site as its generator builds it from a folder: enough to map its URLs back to files."""

    generator: str  # key in sites.GENERATORS
    root: Path  # the folder holding the config file (or the crawled folder)
    config_file: Path | None
    mounts: tuple[Mount, ...]
    base_path: str = ""  # where the whole site is deployed (baseURL's path); links may leave it out
    lowercase: bool = False  # the generator lowercases URLs (Hugo, by default)
    flags: frozenset[str] = field(default_factory=frozenset)  # generator options: "ugly-urls", ...

    def describe(self) -> str:
        """`the Hugo site in content/`: for messages."""
        pages = next((m for m in self.mounts if not m.static), None)
        where = _rel(pages.folder, self.root) if pages else "."
        return f"the {self.generator} site in {where}/"


class Generator(Protocol):
    """One site generator: a module in wikicheck/sites/, registered in sites.GENERATORS."""

    NAME: str

    def find_config(self, folder: Path) -> Path | None:
        """The generator's config file in `folder`, when the folder is the root of such a site."""

    def load(self, folder: Path, config_file: Path | None) -> Site:
        """The site rooted at `folder`, from its config file (defaults when None)."""

    def page_urls(self, site: Site, mount: Mount, rel: str, front: dict[str, Any]) -> list[str] | None:
        """URL paths (under the mount's prefix) the file `rel` of a page mount is published at.

        None: not a page, published as it is (an image); []: not published (a partial, a layout).
        """

    def folder_urls(self, site: Site, mount: Mount, rel: str) -> list[str]:
        """URL paths a folder of a page mount is published at without a page of its own."""

    def wants_front_matter(self, rel: str) -> bool:
        """Whether the file's front matter can move its URL (a slug), so it is worth reading."""


def url_path(value: str) -> str:
    """`/docs/` -> `docs`: a URL path without slashes at the ends."""
    return value.strip().strip("/")


def join_url(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def split_ext(rel: str, exts: tuple[str, ...]) -> tuple[str, str] | None:
    """(stem, extension) when `rel` ends with one of `exts` (case-insensitive), None otherwise."""
    low = rel.lower()
    for ext in exts:
        if low.endswith(ext):
            return rel[: -len(ext)], ext
    return None


def page_dir_url(stem: str, index_names: tuple[str, ...]) -> str | None:
    """`a/b/index` -> `a/b/` when the stem's last part is an index name; None otherwise."""
    head, tail = posixpath.split(stem)
    if tail.lower() in index_names:
        return head + "/" if head else ""
    return None


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return path.as_posix()


class _LenientLoader(yaml.SafeLoader):
    """Safe YAML that reads MkDocs' `!!python/name:` and `!ENV` tags as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_LenientLoader.add_multi_constructor("!", _any_tag)
_LenientLoader.add_multi_constructor("tag:yaml.org,2002:python/", _any_tag)


def read_config(path: Path) -> dict[str, Any]:
    """A TOML, YAML or JSON config file as a dict; {} when it cannot be read (its defaults then apply)."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.load(text, Loader=_LenientLoader)  # a SafeLoader: no arbitrary objects
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


_FM = re.compile(r"\A(?:---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)|\+\+\+[ \t]*\n(.*?)\n\+\+\+[ \t]*(?:\n|\Z))", re.DOTALL)


def read_front_matter(path: Path) -> dict[str, Any]:
    """YAML (---) or TOML (+++) front matter of a page, keys lowercased; {} when none or unreadable."""
    try:
        with path.open("rb") as f:
            head = f.read(_FRONT_MATTER_BYTES).decode("utf-8-sig", errors="replace").replace("\r\n", "\n")
    except OSError:
        return {}
    m = _FM.match(head)
    if not m:
        return {}
    try:
        data: Any = yaml.load(m.group(1), Loader=_LenientLoader) if m.group(1) is not None else tomllib.loads(m.group(2))
    except (ValueError, yaml.YAMLError):
        return {}
    return {str(k).lower(): v for k, v in data.items()} if isinstance(data, dict) else {}
