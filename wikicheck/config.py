"""Load wikicheck.toml (or [tool.wikicheck] in pyproject.toml) and validate it before any work starts."""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError
from .owners import validate_owners
from .policy import validate_exempt, validate_policies, validate_retired, validate_rules

CONFIG_NAME = "wikicheck.toml"

# The sections whose options are plain typed values: section -> option -> (type, default)
SCHEMA: dict[str, dict[str, tuple[type | tuple[type, ...], Any]]] = {
    "embedding": {
        "model": (str, "all-MiniLM-L6-v2"),
        "batch-size": (int, 32),
        # which engine embeds the crawl's texts: auto (ONNX Runtime when the index's verified export
        # is usable, see wikicheck/onnx_engine/), onnx (the same), sentence-transformers
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
    # the retrieval guard's exposure events for the owner reports (wikicheck/risk.py)
    "guard": {
        "record-events": (bool, True),
    },
    # a shared PostgreSQL + pgvector store (#15) instead of the index directory's SQLite file:
    # postgresql://USER@HOST/DB (the password from ~/.pgpass or PGPASSWORD rather than here)
    "store": {
        "url": (str, ""),
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


SectionValidator = Callable[[Any, str], None]  # (the section's value, where it was read) -> raises ConfigError


def _options(section: str) -> SectionValidator:
    """The validator of a section of SCHEMA: a table of known options, each of its type."""

    def validate(options: Any, where: str) -> None:
        if not isinstance(options, dict):
            raise ConfigError(f"{where}: [{section}] should be a table")
        for opt, value in options.items():
            if opt not in SCHEMA[section]:
                raise ConfigError(
                    f'{where}: unknown option "{opt}" in [{section}] (known: {", ".join(sorted(SCHEMA[section]))})')
            typ = SCHEMA[section][opt][0]
            if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
                raise ConfigError(f'{where}: option "{opt}" of [{section}] should be {_type_name(typ)}, got {value!r}')
            choices = _choices(section, opt)
            if choices is not None and value not in choices:
                raise ConfigError(f'{where}: option "{opt}" of [{section}] should be one of {", ".join(choices)}, got {value!r}')
            _check_value(section, opt, value, where)

    return validate


def _type_name(typ: type | tuple[type, ...]) -> str:
    if typ is bool:
        return "true or false"
    return typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)


# Every section a config may have, with its validator: registered here and nowhere else (#13).
SECTIONS: dict[str, SectionValidator] = {
    **{section: _options(section) for section in SCHEMA},  # embedding, crawl, links, guard
    "rules": validate_rules,  # wikicheck/policy.py
    "policies": validate_policies,
    "exempt": validate_exempt,
    "retired": validate_retired,
    "owners": validate_owners,  # wikicheck/owners.py
}


def validate_config(data: dict[str, Any], where: str) -> None:
    """Check every section of a config (`where` names it in errors) before any work starts: ConfigError."""
    for section, options in data.items():
        if section not in SECTIONS:
            raise ConfigError(f"{where}: unknown section [{section}] (known: {', '.join(sorted(SECTIONS))})")
        SECTIONS[section](options, where)


def _choices(section: str, option: str) -> tuple[str, ...] | None:
    """The values an option may take, when they are a fixed set: [links] generator names a module of sites/."""
    if (section, option) == ("links", "generator"):
        from .sites import GENERATOR_CHOICES

        return GENERATOR_CHOICES
    if (section, option) == ("embedding", "engine"):
        return ("auto", "onnx", "sentence-transformers")
    return None


def _check_value(section: str, option: str, value: Any, where: str) -> None:
    """A value that has the right type but cannot be right: said when the config is read."""
    if (section, option) == ("store", "url") and value:
        from .store.pg import is_store_url

        if not is_store_url(value):
            raise ConfigError(f'{where}: option "url" of [store] should be a postgresql:// URL, got {value!r} '
                              "(an SQLite store is chosen with --index DIR)")


def env_flag(name: str) -> bool:
    """An on/off environment variable: unset, empty, 0, false, no and off (any case) are off."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def record_events_enabled(config: Config | None = None) -> bool:
    """Whether the guard should record what it serves: off with WIKICHECK_NO_EVENTS=1 or [guard] record-events = false."""
    if env_flag("WIKICHECK_NO_EVENTS"):
        return False
    return bool((config or Config()).get("guard", "record-events"))


def _config_in_sources(index: str | Path) -> Path | None:
    from .store import db_path_for, is_store_url, source_roots

    if is_store_url(index):
        roots = _pg_source_roots(str(index))
    else:
        db = db_path_for(index)
        if not db.exists():
            return None
        roots = source_roots(db)
    if roots is None:
        return None
    for root in roots:
        p = Path(root) / CONFIG_NAME
        if p.is_file():
            return p
    return None


def _pg_source_roots(url: str) -> list[str] | None:
    """The roots of the non-HTTP sources of a PostgreSQL store; None when it cannot be read."""
    from .errors import WikicheckError
    from .store import Store

    try:
        with Store.open(url) as store:
            return [r["root"] for r in store.sources() if r["kind"] != "http"]
    except WikicheckError:
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
    validate_config(data, str(p))
    return Config(copy.deepcopy(data), p)
