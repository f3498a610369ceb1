"""The README's examples run as written (#12): every ```python block, in order, from a folder that holds a
copy of sample_wiki/, with the deterministic test embedder (WIKICHECK_MODEL) so that it stays fast.

A block runs in a namespace of its own; later blocks use what earlier ones left on disk (the library
example crawls indexes/default). Comment lines that end a block right after its code are the output
it prints, and are compared. Every ```json block parses (the MCP client configuration).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.M | re.S)


def blocks(lang: str) -> list[tuple[int, str]]:
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(2)) for m in FENCE.finditer(text) if m.group(1) == lang]


def printed(code: str) -> list[str]:
    """The output a block shows in its closing comment lines."""
    lines = code.rstrip("\n").split("\n")
    out: list[str] = []
    while lines and lines[-1].startswith("# "):
        out.insert(0, lines.pop()[2:])
    return out


PYTHON = blocks("python")


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Any]:
    """Run every python block once, in order: {README line: its stdout, or the exception it raised}."""
    root = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "sample_wiki", root / "sample_wiki")
    results: dict[int, Any] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for name in ("WIKICHECK_INDEX", "WIKICHECK_CONFIG", "WIKICHECK_DB"):
            mp.delenv(name, raising=False)
        mp.setenv("WIKICHECK_HOME", str(root / "home"))
        mp.setenv("WIKICHECK_MODEL", "test-hash-64")
        for line, code in PYTHON:
            ns: dict[str, Any] = {"__name__": "__readme__"}
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(code, f"README.md:{line}", "exec"), ns)
                results[line] = out.getvalue()
            except Exception as e:  # noqa: BLE001 - reported by the block's own test
                results[line] = e
            for value in ns.values():  # the guards a block opened
                if type(value).__name__ == "Guard":
                    value.close()
    return results


def test_the_readme_has_the_library_and_adapter_examples():
    code = "\n".join(c for _, c in PYTHON)
    for name in ("run_checks", "WikicheckRetriever", "WikicheckCompressor", "WikicheckNodePostprocessor"):
        assert name in code


@pytest.mark.parametrize("line,code", PYTHON, ids=[f"README.md:{line}" for line, _ in PYTHON])
def test_python_example_runs(ran, line, code):
    result = ran[line]
    if isinstance(result, Exception):
        raise result
    expected = printed(code)
    if expected:
        assert result.rstrip("\n").split("\n")[-len(expected):] == expected, result
    else:
        assert result.strip(), "the example printed nothing"


JSON = blocks("json")


@pytest.mark.parametrize("line,text", JSON, ids=[f"README.md:{line}" for line, _ in JSON])
def test_json_example_parses(line, text):
    servers = json.loads(text)["mcpServers"]["wikicheck"]
    if "command" in servers:  # the stdio server: `wikicheck mcp --index DIR`
        assert servers["command"] == "wikicheck" and servers["args"][:2] == ["mcp", "--index"]
    else:  # streamable HTTP at /mcp of `wikicheck serve`
        assert servers["url"].endswith("/mcp")
