"""Rule configuration: which rules run, at what level, with which options, per folder.

```toml
[rules.stale]                 # a rule by name or code
max-age-days = 365
level = "warning"             # error | warning | info
enabled = true

[[policies]]                  # options that differ per folder (later entries win)
paths = ["platform/", "sre/**"]
max-age-days = 180            # an option name of any rule
review-interval-days = 90
disable = ["duplicate"]

[exempt]                      # page kinds that are historical records: no age rules
kinds = ["adr", "postmortem", "changelog", "release-notes"]
paths = ["archive/**"]

[[retired]]                   # the retired-term lexicon
term = "jenkins.acme.internal"
replacement = "ci.acme.internal"
reason = "Jenkins was replaced by GitHub Actions in 2025"
[[retired]]
pattern = '\\bkubectl-legacy\\b'
replacement = "kubectl"
```
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .vocabulary import LEVELS

if TYPE_CHECKING:
    from .config import Config


KIND_PATTERNS = {
    "adr": re.compile(r"(^|/)(adrs?|decisions?|architecture[-_ ]decisions?(?:[-_ ]records?)?)(/|$)|(^|/)adr[-_]?\d+", re.I),
    "postmortem": re.compile(r"(^|/)(post[-_ ]?mortems?|incident[-_ ]?reviews?|retros?(pectives)?|pir)(/|$)|post[-_ ]?mortem", re.I),
    "changelog": re.compile(r"(^|/)(changelog|changes|history)(\.[a-z]+)?$|(^|/)changelogs?/", re.I),
    "release-notes": re.compile(r"(^|/)release[-_ ]?notes?|(^|/)releases/", re.I),
}
KIND_ALIASES = {"decision": "adr", "architecture-decision": "adr", "incident-review": "postmortem",
                "post-mortem": "postmortem", "incident": "postmortem", "release-note": "release-notes",
                "releasenotes": "release-notes", "change-log": "changelog"}
DEFAULT_EXEMPT = ["adr", "postmortem", "changelog", "release-notes"]


def exempt_kind(path: str, meta: dict[str, Any]) -> str | None:
    """The historical-record kind of a page (adr, postmortem, ...), from front matter or its path."""
    for key in ("kind", "type", "doc_type", "category"):
        v = meta.get(key)
        if isinstance(v, str):
            k = v.strip().lower().replace("_", "-")
            k = KIND_ALIASES.get(k, k)
            if k in KIND_PATTERNS:
                return k
    for kind, pat in KIND_PATTERNS.items():
        if pat.search(path):
            return kind
    return None


def _match(path: str, patterns: list[str]) -> bool:
    for p in patterns:
        if p.endswith("/") and (path.startswith(p) or f"/{p}" in f"/{path}"):
            return True
        if fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.rstrip("/") + "/*"):
            return True
    return False


@dataclass
class RetiredTerm:
    label: str
    regex: re.Pattern[str]
    replacement: str | None
    reason: str | None


@dataclass
class Policies:
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> options incl. level, enabled
    folders: list[dict[str, Any]] = field(default_factory=list)
    exempt_kinds: list[str] = field(default_factory=lambda: list(DEFAULT_EXEMPT))
    exempt_paths: list[str] = field(default_factory=list)
    retired: list[RetiredTerm] = field(default_factory=list)

    @classmethod
    def from_config(cls, config: Config) -> "Policies":
        from .rules import RULES, resolve_rule

        data = config.data
        p = cls()
        for code, rule in RULES.items():
            p.rules[code] = {"enabled": True, **rule.DEFAULTS}
        for name, opts in (data.get("rules") or {}).items():
            rule = resolve_rule(name)
            if isinstance(opts, bool):
                p.rules[rule.CODE]["enabled"] = opts
                continue
            p.rules[rule.CODE].update(opts)
        for entry in data.get("policies") or []:
            p.folders.append(entry)
        ex = data.get("exempt") or {}
        if "kinds" in ex:
            p.exempt_kinds = list(ex["kinds"])
        p.exempt_paths = list(ex.get("paths", []))
        for entry in data.get("retired") or []:
            if "pattern" in entry:
                rx = re.compile(entry["pattern"])
                label = entry.get("label") or entry["pattern"]
            else:
                rx = re.compile(r"(?<![\w.-])" + re.escape(entry["term"]) + r"(?![\w-])", re.I)
                label = entry.get("label") or entry["term"]
            p.retired.append(RetiredTerm(label, rx, entry.get("replacement"), entry.get("reason")))
        return p

    def _folder_overrides(self, code: str, path: str) -> dict[str, Any]:
        from .rules import RULES, resolve_rule

        rule = RULES[code]
        out: dict[str, Any] = {}
        for entry in self.folders:
            if not _match(path, entry.get("paths", [])):
                continue
            for k, v in entry.items():
                if k in rule.OPTIONS:
                    out[k] = v
            for r in entry.get("disable", []):
                if resolve_rule(r).CODE == code:
                    out["enabled"] = False
            for r in entry.get("enable", []):
                if resolve_rule(r).CODE == code:
                    out["enabled"] = True
            for name, opts in (entry.get("rules") or {}).items():
                if resolve_rule(name).CODE == code:
                    out.update(opts if isinstance(opts, dict) else {"enabled": bool(opts)})
        return out

    def rule_options(self, code: str, path: str) -> dict[str, Any]:
        return {**self.rules[code], **self._folder_overrides(code, path)}

    def enabled(self, code: str, path: str = "") -> bool:
        if path:
            return bool(self.rule_options(code, path)["enabled"])
        # anywhere: on globally, or switched on for some folder
        return bool(self.rules[code]["enabled"]) or any(self._enables(entry, code) for entry in self.folders)

    @staticmethod
    def _enables(entry: dict[str, Any], code: str) -> bool:
        from .rules import resolve_rule

        if any(resolve_rule(r).CODE == code for r in entry.get("enable", [])):
            return True
        for name, opts in (entry.get("rules") or {}).items():
            if resolve_rule(name).CODE == code:
                on = opts.get("enabled") if isinstance(opts, dict) else opts
                if on is True:
                    return True
        return False

    def level(self, code: str, path: str) -> str:
        return str(self.rule_options(code, path)["level"])

    def is_exempt(self, doc: dict[str, Any]) -> bool:
        if _match(doc["path"], self.exempt_paths):
            return True
        meta = json.loads(doc.get("meta") or "{}") if isinstance(doc.get("meta"), str) else (doc.get("meta") or {})
        kind = exempt_kind(doc["path"], meta)
        return kind is not None and kind in self.exempt_kinds

    def describe(self) -> dict[str, Any]:
        return {"rules": self.rules, "policies": self.folders, "exempt": {"kinds": self.exempt_kinds,
                "paths": self.exempt_paths}, "retired": [r.label for r in self.retired]}


# ----------------------------------------------------------------------------- validation
# The validators of [rules], [[policies]], [exempt] and [[retired]], registered in config.SECTIONS.


def _resolve(name: Any, where: str) -> Any:
    """The rule a config names, or a ConfigError that says which file (and entry) names it."""
    from .rules import resolve_rule

    try:
        return resolve_rule(str(name))
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def validate_rules(section: Any, where: str) -> None:
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: [rules] should be a table of rule names or codes")
    for name, opts in section.items():
        rule = _resolve(name, where)
        if isinstance(opts, bool):
            continue
        if not isinstance(opts, dict):
            raise ConfigError(f'{where}: rules.{name} should be true, false or a table of options')
        _check_options(rule, opts, f"{where}: rules.{name}")


def _check_options(rule: Any, opts: dict[str, Any], where: str, allow_other: bool = False) -> None:
    for k, v in opts.items():
        if k == "level":
            if v not in LEVELS:
                raise ConfigError(f'{where}: level should be one of {", ".join(LEVELS)}, got {v!r}')
        elif k == "enabled":
            if not isinstance(v, bool):
                raise ConfigError(f"{where}: enabled should be true or false, got {v!r}")
        elif k in rule.OPTIONS:
            typ = rule.OPTIONS[k]
            ok = isinstance(v, typ) and not (typ is int and isinstance(v, bool))
            if typ is float and isinstance(v, int) and not isinstance(v, bool):
                ok = True
            if not ok:
                raise ConfigError(f'{where}: option "{k}" of {rule.CODE} should be {typ.__name__}, got {v!r}')
        elif not allow_other:
            known = ", ".join(sorted([*rule.OPTIONS, "level", "enabled"]))
            raise ConfigError(f'{where}: unknown option "{k}" for {rule.CODE} {rule.NAME} (known: {known})')


def validate_policies(section: Any, where: str) -> None:
    from .rules import RULES

    if not isinstance(section, list):
        raise ConfigError(f"{where}: policies should be an array of tables: [[policies]]")
    all_opts = {k: r for r in RULES.values() for k in r.OPTIONS}
    for i, entry in enumerate(section):
        w = f"{where}: policies[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("paths"), list) or not entry["paths"]:
            raise ConfigError(f'{w}: needs paths = ["folder/", "glob/**"]')
        for k, v in entry.items():
            if k == "paths":
                continue
            if k in ("disable", "enable"):
                for r in v:
                    _resolve(r, f"{w}: {k}")
            elif k == "rules":
                validate_rules(v, w)
            elif k in all_opts:
                for r in RULES.values():
                    if k in r.OPTIONS:
                        _check_options(r, {k: v}, w)
            else:
                raise ConfigError(f'{w}: unknown option "{k}" (known: paths, disable, enable, rules, {", ".join(sorted(all_opts))})')


def validate_exempt(section: Any, where: str) -> None:
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: [exempt] should be a table")
    for k, v in section.items():
        if k not in ("kinds", "paths") or not isinstance(v, list):
            raise ConfigError(f'{where}: [exempt] takes kinds = [...] and paths = [...], got "{k}"')
    for kind in section.get("kinds", []):
        if kind not in KIND_PATTERNS:
            raise ConfigError(f'{where}: unknown page kind "{kind}" in [exempt] (known: {", ".join(KIND_PATTERNS)})')


def validate_retired(section: Any, where: str) -> None:
    if not isinstance(section, list):
        raise ConfigError(f"{where}: retired should be an array of tables: [[retired]]")
    for i, e in enumerate(section):
        w = f"{where}: retired[{i}]"
        if not isinstance(e, dict) or not (("term" in e) ^ ("pattern" in e)):
            raise ConfigError(f"{w}: needs exactly one of term = \"...\" or pattern = \"regex\"")
        unknown = set(e) - {"term", "pattern", "replacement", "reason", "label"}
        if unknown:
            raise ConfigError(f'{w}: unknown key "{sorted(unknown)[0]}" (known: term, pattern, replacement, reason, label)')
        if "pattern" in e:
            try:
                re.compile(e["pattern"])
            except re.error as err:
                raise ConfigError(f"{w}: invalid regex {e['pattern']!r}: {err}") from None
