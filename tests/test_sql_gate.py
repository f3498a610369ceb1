"""The store is the only gate to the database (#13): no module outside the store package runs SQL.

Read from the source with ast: a call of ``.execute(``, ``.executemany(``, ``.executescript(`` or
``.query(``, ``db[...]`` or ``db.table(...)``, ``sqlite3.connect(``, or a string that reads as an
SQL statement on a table (``select ... from t``, ``insert into t``, ``update t set``, ``delete from t``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import wikicheck

PACKAGE_DIR = Path(wikicheck.__file__).parent
STORE_PACKAGE = "store"

# modules (a module "x" stands for x.py and for a package x/) allowed to touch the database besides
# the store package; none since the schema's migrations moved into it (wikicheck/store/migrations.py)
ALLOWED: set[str] = set()

SQL_CALLS = {"execute", "executemany", "executescript", "query"}
SQL_TEXT = re.compile(r"\bselect\b.*\bfrom\s+[a-z_]+|\binsert\s+(or\s+\w+\s+)?into\s+[a-z_]+|\bdelete\s+from\s+[a-z_]+"
                      r"|\bupdate\s+[a-z_]+\s+set\b", re.IGNORECASE | re.DOTALL)


def _named_db(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id == "db") or (isinstance(node, ast.Attribute) and node.attr == "db")


def sql_uses(source: str) -> list[tuple[int, str]]:
    """(line, what) of every database access in a module's source."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            f = node.func
            if f.attr in SQL_CALLS:
                out.append((node.lineno, f".{f.attr}("))
            elif f.attr == "table" and _named_db(f.value):
                out.append((node.lineno, "db.table("))
            elif f.attr == "connect" and isinstance(f.value, ast.Name) and f.value.id == "sqlite3":
                out.append((node.lineno, "sqlite3.connect("))
        elif isinstance(node, ast.Subscript) and _named_db(node.value):
            out.append((node.lineno, "db[...]"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_TEXT.search(node.value):
            out.append((node.lineno, f"SQL text {node.value[:40]!r}"))
    return sorted(out)


def allowed(name: str) -> bool:
    return any(name == f"{m}.py" or name.startswith(f"{m}/") for m in ALLOWED)


def modules() -> dict[str, Path]:
    """{path relative to the package: file} of every module outside the store package."""
    return {p.relative_to(PACKAGE_DIR).as_posix(): p for p in sorted(PACKAGE_DIR.rglob("*.py"))
            if p.relative_to(PACKAGE_DIR).parts[0] != STORE_PACKAGE}


def test_only_the_store_touches_the_database():
    found = {name: uses for name, p in modules().items() if not allowed(name)
             if (uses := sql_uses(p.read_text(encoding="utf-8")))}
    assert found == {}, "move these into a Store method (wikicheck/store/): " + "; ".join(
        f"{name}:{line} {what}" for name, uses in found.items() for line, what in uses)


def test_the_allow_list_names_modules_that_exist():
    """A misspelt or removed entry would allow nothing, silently."""
    for module in sorted(ALLOWED):
        assert any(allowed(name) and name.startswith(module) for name in modules()), f"no {module}: remove it from ALLOWED"


def test_the_schema_is_in_the_store_package():
    """The migrations run SQL: they live in the store package, which the gate does not read."""
    assert (PACKAGE_DIR / STORE_PACKAGE / "migrations.py").is_file()
    assert not (PACKAGE_DIR / "migrations.py").exists()


def test_the_store_is_seen_by_the_check():
    """The check finds what it looks for: the store itself is full of it."""
    uses = {what for p in (PACKAGE_DIR / STORE_PACKAGE).glob("*.py") for _, what in sql_uses(p.read_text("utf-8"))}
    assert {".execute(", ".query(", "db.table(", "sqlite3.connect(", ".executemany("} <= uses
    assert any(w.startswith("SQL text") for w in uses)


@pytest.mark.parametrize("source, found", [
    ("store.db.execute('select 1')", [(1, ".execute(")]),
    ("rows = store.db.query(sql)", [(1, ".query(")]),
    ("self.db['findings'].insert({})", [(1, "db[...]")]),
    ("db.table('check_runs').update(1, {})", [(1, "db.table(")]),
    ("import sqlite3\nc = sqlite3.connect(path)", [(2, "sqlite3.connect(")]),
    ("SQL = 'delete from meta where key = ?'", [(1, "SQL text 'delete from meta where key = ?'")]),
    ("MSG = 'review it: update what changed, then bump its date or set last_reviewed'", []),
    ("parts = urlsplit(url).query", []),
])
def test_sql_uses(source, found):
    assert sql_uses(source) == found
