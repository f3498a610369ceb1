"""The registries stay consistent: rule codes, names, docstrings, registration; CLI help and README."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import wikicheck.rules as rules_pkg
from wikicheck.check import LEVELS
from wikicheck.rules import BY_NAME, RULES, resolve_rule

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
RULE_MODULES = sorted(m.name for m in pkgutil.iter_modules(rules_pkg.__path__) if re.match(r"wc\d{3}_", m.name))


def test_codes_unique_and_well_formed():
    codes = [r.CODE for r in RULES.values()]
    assert len(codes) == len(set(codes)) and all(re.fullmatch(r"WC\d{3}", c) for c in codes)
    assert all(code == r.CODE for code, r in RULES.items())


def test_names_unique_and_kebab_case():
    names = [r.NAME for r in RULES.values()]
    assert len(names) == len(set(names)) == len(BY_NAME)
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", n) for n in names), names


@pytest.mark.parametrize("module", RULE_MODULES)
def test_every_rule_module_is_registered(module):
    m = importlib.import_module(f"wikicheck.rules.{module}")
    assert RULES.get(m.CODE) is m, f"{module} is not in RULES"
    assert module.startswith(m.CODE.lower() + "_"), "module file name starts with its code"


@pytest.mark.parametrize("code", sorted(RULES))
def test_rule_module_contract(code):
    r = RULES[code]
    doc = r.__doc__ or ""
    assert "Passes:" in doc and "Fails:" in doc, f"{code}: docstring needs Passes: and Fails: examples"
    assert doc.strip().split("\n")[0], "a one-line summary first"
    assert r.SCOPE in ("section", "document", "corpus")
    assert r.KINDS and all(re.fullmatch(r"[a-z_]+", k) for k in r.KINDS)
    assert r.DEFAULTS.get("level") in LEVELS
    assert set(r.OPTIONS) <= set(r.DEFAULTS), "every option has a default"
    assert all(isinstance(r.DEFAULTS[k], t) for k, t in r.OPTIONS.items())
    assert isinstance(r.AGE_RULE, bool) and callable(r.check)
    assert resolve_rule(code) is r and resolve_rule(r.NAME) is r and resolve_rule(code.lower()) is r


def test_rule_modules_match_the_registry():
    assert sorted(RULE_MODULES) == sorted(RULES[c].__name__.rsplit(".", 1)[-1] for c in RULES)


def _commands() -> dict:
    import typer.main

    from wikicheck.cli import app

    return dict(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


COMMANDS = sorted(_commands())


def test_core_commands_exist():
    assert {"crawl", "check", "rules", "status", "search"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_cli_command_has_help_and_is_in_the_readme(name):
    cmd = _commands()[name]
    assert (cmd.help or "").strip(), f"{name} has no help text"
    for p in cmd.params:
        if p.param_type_name in ("option", "argument") and p.name != "help":
            assert (getattr(p, "help", None) or "").strip(), f"{name} {p.name} has no help text"
    assert re.search(rf"`wikicheck {name}\b", README), f"`wikicheck {name}` is not in README.md"


@pytest.mark.parametrize("code", sorted(RULES))
def test_rules_are_documented_somewhere_the_user_sees(code):
    """`wikicheck rules` shows each rule's summary: it must be a sentence, not empty."""
    from wikicheck.rules import summary_line

    assert len(summary_line(RULES[code])) > 20


# --------------------------------------------------------------------------- drift rules' options

DRIFT_RULES = sorted(c for c in RULES if getattr(RULES[c], "DRIFT_OPTIONS", None))


@pytest.mark.parametrize("code", DRIFT_RULES)
def test_drift_options_name_the_rules_options_and_drift_fields(code):
    """A drift rule maps its own options into DriftOptions (check_context.drift_options reads the map)."""
    import dataclasses

    from wikicheck.drift import DriftOptions

    r = RULES[code]
    fields = {f.name for f in dataclasses.fields(DriftOptions)}
    assert getattr(r, "DRIFT_RULE", None), f"{code} has DRIFT_OPTIONS but no DRIFT_RULE"
    assert set(r.DRIFT_OPTIONS) <= set(r.OPTIONS), "every mapped option is an option of the rule"
    assert set(r.DRIFT_OPTIONS.values()) <= fields, "every target is a DriftOptions field"


def test_each_drift_field_is_set_by_one_rule_and_the_defaults_agree():
    from wikicheck.check_context import drift_options
    from wikicheck.config import Config
    from wikicheck.drift import DriftOptions
    from wikicheck.policy import Policies

    targets = [f for c in DRIFT_RULES for f in RULES[c].DRIFT_OPTIONS.values()]
    assert len(targets) == len(set(targets))
    assert drift_options(Policies.from_config(Config())) == DriftOptions()
    configured = Config(data={"rules": {"superseded": {"k": 5}, "contradicted": {"min-conflicts": 3},
                                        "copy-lineage": {"min-tokens": 20, "move-window-days": 2.0}}})
    assert drift_options(Policies.from_config(configured)) == DriftOptions(
        k=5, min_conflicts=3, lineage_min_tokens=20, move_window_days=2.0)
