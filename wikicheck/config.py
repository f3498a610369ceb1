"""Load wikicheck.toml (or [tool.wikicheck] in pyproject.toml) and validate it before any work starts."""

from __future__ import annotations

import copy
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError

CONFIG_NAME = "wikicheck.toml"

# section -> option -> (type, default)
SCHEMA: dict[str, dict[str, tuple[type | tuple[type, ...], Any]]] = {
    "embedding": {
        "model": (str, "all-MiniLM-L6-v2"),
        "batch-size": (int, 32),
        # which engine embeds the crawl's texts: auto (ONNX Runtime when the index's verified export
        # is usable, see wikicheck/onnx_engine.py), onnx (the same), sentence-transformers
        "engine": (str, "auto"),
    },
    "crawl": {
        "max-file-bytes": (int, 5 * 1024 * 1024),
        "max-heading-level": (int, 4),
        "workers": (int, 4),
    },
    # how WC301 resolves site-absolute links (/docs/x) on a static site: see wikicheck/sites/
    "links": {
        "generator": (str, "auto"),  # auto (from its config file), none, hugo, mkdocs, docusaurus, middleman, generic
        "site-root": (str, ""),  # the folder the site's pages come from, relative to the crawled folder
        "url-prefix": (str, ""),  # the URL path those pages are published under, e.g. /docs
    },
}


@dataclass
class Config:
    data: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def get(self, section: str, option: str) -> Any:
        return self.data.get(section, {}).get(option, SCHEMA[section][option][1])

    @property
    def model(self) -> str:
        return os.environ.get("WIKICHECK_MODEL") or self.get("embedding", "model")


def _validate(data: dict[str, Any], where: str) -> None:
    for section, options in data.items():
        if section not in SCHEMA:
            if section in EXTRA_SECTIONS:
                EXTRA_SECTIONS[section](options, where)
                continue
            raise ConfigError(f"{where}: unknown section [{section}] (known: {', '.join(sorted(set(SCHEMA) | set(EXTRA_SECTIONS)))})")
        if not isinstance(options, dict):
            raise ConfigError(f"{where}: [{section}] should be a table")
        for opt, value in options.items():
            if opt not in SCHEMA[section]:
                raise ConfigError(
                    f'{where}: unknown option "{opt}" in [{section}] (known: {", ".join(sorted(SCHEMA[section]))})')
            typ = SCHEMA[section][opt][0]
            if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
                name = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
                raise ConfigError(f'{where}: option "{opt}" of [{section}] should be {name}, got {value!r}')
            choices = _choices(section, opt)
            if choices is not None and value not in choices:
                raise ConfigError(f'{where}: option "{opt}" of [{section}] should be one of {", ".join(choices)}, got {value!r}')


def _choices(section: str, option: str) -> tuple[str, ...] | None:
    """The values an option may take, when they are a fixed set: [links] generator names a module of sites/."""
    if (section, option) == ("links", "generator"):
        from .sites import GENERATOR_CHOICES

        return GENERATOR_CHOICES
    if (section, option) == ("embedding", "engine"):
        return ("auto", "onnx", "sentence-transformers")
    return None


# Sections validated by other modules (rules, policies), registered explicitly by them.
EXTRA_SECTIONS: dict[str, Any] = {}


def _register_extra_sections() -> None:
    from . import owners, policy, risk  # noqa: F401  ([rules], [[policies]], [exempt], [[retired]], [owners], [guard])


def _config_in_sources(index: str | Path) -> Path | None:
    import sqlite3

    db = Path(index) / "wikicheck.db" if Path(index).suffix != ".db" else Path(index)
    if not db.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            roots = [r[0] for r in conn.execute("select root from sources where kind != 'http' order by name")]
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    for root in roots:
        p = Path(root) / CONFIG_NAME
        if p.is_file():
            return p
    return None


def find_config(start: Path | None = None) -> Path | None:
    start = (start or Path.cwd()).resolve()
    for d in (start, *start.parents):
        for name in (CONFIG_NAME, "pyproject.toml"):
            p = d / name
            if p.is_file():
                if name == "pyproject.toml":
                    try:
                        if "wikicheck" not in tomllib.loads(p.read_text()).get("tool", {}):
                            continue
                    except (tomllib.TOMLDecodeError, OSError):
                        continue
                return p
        if (d / ".git").exists():
            break
    return None


def load_config(path: str | Path | None = None, *, discover: bool = True,
                sources_from: str | Path | None = None) -> Config:
    """Read and validate the config.

    With no path: $WIKICHECK_CONFIG, then wikicheck.toml (or [tool.wikicheck] in pyproject.toml)
    from the current directory up, then a wikicheck.toml at the root of a source crawled into the
    index `sources_from` (a docs repository can carry its own config).
    """
    env = os.environ.get("WIKICHECK_CONFIG")
    if path is None and env:
        path = env
    if path is None and discover:
        path = find_config()
    if path is None and discover and sources_from is not None:
        path = _config_in_sources(sources_from)
    if path is None:
        return Config()
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}") from None
    data = raw.get("tool", {}).get("wikicheck", {}) if p.name == "pyproject.toml" else raw
    _register_extra_sections()
    _validate(data, str(p))
    return Config(copy.deepcopy(data), p)
