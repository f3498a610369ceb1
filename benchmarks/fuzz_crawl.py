#!/usr/bin/env python3
"""Fuzz corpus for the folder crawl (issue 11, "Done when"): hostile files never crash a crawl.

Makes a folder of at least `--count` malformed entries of the kinds issue 11 lists (impossible,
broken, huge and alias-bomb front matter; binary, non-UTF-8 and mixed-encoding content; non-UTF-8
and odd file names; huge files; deep HTML and markdown nesting; symlink loops, symlinks out of the
folder and to /dev/zero; FIFOs and sockets; empty files; NUL bytes; control characters; very long
lines and headings; pathological markdown), each variant drawn from `--seed`, plus `--valid` valid
pages that each carry a phrase found nowhere else. Then runs `wikicheck crawl FOLDER --index IDX
--json` as a real subprocess and reports:

* the crawl's exit code, crashes (exit 4 or a Traceback on stderr) and hangs (`--timeout`);
* wall time, CPU time and peak RSS of the crawl process (os.wait4's rusage of that child; RSS target
  < 1.5 GB); on a shared machine the CPU time is the figure to compare;
* files skipped with a warning and pages indexed with a warning (from the crawl's JSON), per kind;
* valid pages indexed: the page is live in the store, a live section holds its phrase and that
  section's text has a vector; and (unless `--no-search`) found by one `wikicheck search
  --queries-file` run in the top 5 for its phrase;
* text leaked from outside the folder (files next to it, /etc/passwd) into any section: must be 0.

    python benchmarks/fuzz_crawl.py                          # 1,000 malformed + 50 valid, seed 11
    python benchmarks/fuzz_crawl.py --count 60 --valid 5 --model test-hash-64 --no-search
    python benchmarks/fuzz_crawl.py --seed 3 --keep /tmp/fuzz --json-out /tmp/fuzz.json

Exit 0 when the crawl exits 0 with no crash, no hang, no leak, every valid page indexed and peak RSS
under the target; 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

RSS_TARGET_MB = 1536
SECRET = "FUZZ-OUTSIDE-SECRET"  # planted in files next to the corpus; must never reach a section
WORDS = ("restart", "drain", "node", "pgbouncer", "database", "failover", "rotate", "certificate", "queue",
         "replica", "backup", "restore", "deploy", "rollback", "kubectl", "cluster", "alert", "latency",
         "disk", "memory", "timeout", "retry", "shard", "index", "cache", "token", "ingress", "vault")


# --------------------------------------------------------------------------- the corpus


@dataclass
class Entry:
    kind: str
    rel: str  # as the crawl names it (non-UTF-8 bytes shown as \\xNN, the way folder.py warns)
    page: bool  # a file with a page extension (a directory, a loop or a link to a folder is not)


@dataclass
class Corpus:
    root: Path
    variants: int = 0  # malformed variants made; one can make several entries (a chain of links)
    entries: list[Entry] = field(default_factory=list)
    valid: dict[str, str] = field(default_factory=dict)  # rel -> its unique phrase


class Maker:
    """Places files in a few folders of the corpus; every entry is recorded with its kind."""

    def __init__(self, root: Path, rng: random.Random):
        self.root, self.rng = root, rng
        self.corpus = Corpus(root)
        self.dirs = [root, *(root / d for d in ("ops", "ops/db", "ops/db/replicas", "platform", "teams/a",
                                                 "teams/b/deep", "archive", "html"))]
        for d in self.dirs:
            d.mkdir(parents=True, exist_ok=True)
        self.n = 0
        self.kind = ""

    def path(self, suffix: str = ".md", name: str | None = None, folder: Path | None = None) -> Path:
        self.n += 1
        d = folder or self.rng.choice(self.dirs)
        return d / (name or f"{self.kind}-{self.n:04d}{suffix}")

    def record(self, p: Path | bytes, page: bool = True) -> None:
        raw = p if isinstance(p, bytes) else os.fsencode(p)
        rel = os.path.relpath(raw, os.fsencode(self.root)).decode("utf-8", "backslashreplace")
        self.corpus.entries.append(Entry(self.kind, rel, page))

    def write(self, data: bytes | str, suffix: str = ".md", name: str | None = None) -> Path:
        p = self.path(suffix, name)
        p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        self.record(p)
        return p

    def link(self, target: str | Path, suffix: str = ".md", page: bool = True) -> Path:
        p = self.path(suffix)
        os.symlink(target, p)
        self.record(p, page)
        return p

    # ------------------------------------------------------------------ random text

    def words(self, n: int) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(n))

    def body(self, sections: int = 2) -> str:
        parts = [f"# {self.words(3).title()}\n"]
        for _ in range(sections):
            parts.append(f"## {self.words(2).title()}\n\n{self.words(self.rng.randint(8, 30))}.\n")
        return "\n".join(parts)

    def date(self) -> str:
        return f"20{self.rng.randint(15, 26)}-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}"


KINDS: dict[str, tuple[int, Callable[[Maker], None]]] = {}


def kind(weight: int) -> Callable[[Callable[[Maker], None]], Callable[[Maker], None]]:
    """Register a maker of one malformed entry; `weight` is its share of the corpus."""

    def register(fn: Callable[[Maker], None]) -> Callable[[Maker], None]:
        KINDS[fn.__name__] = (weight, fn)
        return fn

    return register


# --------------------------------------------------------------------------- front matter


@kind(60)
def fm_impossible_date(m: Maker) -> None:
    key = m.rng.choice(("updated", "last_updated", "last_modified", "date", "reviewed", "last_reviewed",
                        "review_by", "expires"))
    value = m.rng.choice(("2024-13-45", "2023-02-30", "2024-06-31", "0000-00-00", "99999-01-01",
                          "2024-02-29T25:61:00Z", "2023-02-29", "2024-00-10", "2024-12-32T00:00:00+25:00",
                          "1e400", "-1", "2024-1-1", "'2024-13-01'", "2021-02-29 10:00:00", "9999-12-31T23:59:60Z",
                          "!!timestamp 2024-13-45", "2024-02-30 99:99:99"))
    extra = m.rng.choice(("", f"owner: '@team-{m.rng.randint(1, 9)}'\n", f"updated: {m.date()}\n"))
    m.write(f"---\n{extra}{key}: {value}\ntitle: {m.words(2)}\n---\n{m.body()}")


@kind(60)
def fm_broken(m: Maker) -> None:
    bad = m.rng.choice((
        'title: "unclosed\nowner: x', "title: [unclosed, list\n", "  indented: wrongly\nkey: x\n  - item",
        "\tkey: tab indent", "key: value: another: colon\n: no key", 'escape: "\\x\\u12"',
        "%TAG ! tag:example.com,2000:\ntitle: x", "title: !!python/object/apply:os.system ['echo pwned']",
        "data: !!binary '@@@not base64@@@'", "owner: *undefined_alias", "<<: 5\ntitle: x", "a: b\na: c\na: d",
        "key: |\n bad\n  indent\n block", "- just\n- a\n- list", "'", "{", "? complex key\n: value",
        "title: !custom tag", "updated: !!int not-a-number", "&a a: *a",
    ))
    closing = "" if m.rng.random() < 0.2 else "---\n"  # an unclosed front matter now and then
    m.write(f"---\n{bad}\n{closing}{m.body()}")


@kind(30)
def fm_alias_bomb(m: Maker) -> None:
    style = m.rng.choice(("laughs", "merge", "recursive"))
    depth, width = m.rng.randint(6, 12), m.rng.randint(5, 12)
    if style == "laughs":  # the billion laughs: width ** depth copies of one list
        lines = ["a: &a [" + ", ".join(["lol"] * width) + "]"]
        names = [f"n{i}" for i in range(depth)]
        prev = "a"
        for name in names:
            lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * width) + "]")
            prev = name
    elif style == "merge":
        lines = ["a: &a {x: 1, y: 2}"]
        prev = "a"
        for i in range(depth):
            lines.append(f"m{i}: &m{i}\n  <<: [" + ", ".join([f"*{prev}"] * width) + f"]\n  k{i}: v")
            prev = f"m{i}"
    else:  # a structure that contains itself
        lines = ["loop: &loop [*loop, *loop]", "map: &map {self: *map}", "title: recursive"]
    m.write("---\n" + "\n".join(lines) + "\n---\n" + m.body())


@kind(25)
def fm_huge(m: Maker) -> None:
    style = m.rng.choice(("many-keys", "long-value", "deep-flow", "deep-block", "wide-flow"))
    if style == "many-keys":  # more lines than the front matter scan looks at
        fm = "\n".join(f"key{i}: {m.words(3)}" for i in range(m.rng.randint(400, 3000)))
    elif style == "long-value":
        fm = "title: " + "x" * m.rng.randint(100_000, 1_000_000)
    elif style == "deep-flow":
        d = m.rng.randint(500, 20_000)
        fm = "deep: " + "{a: " * d + "1" + "}" * d
    elif style == "deep-block":
        fm = "\n".join("  " * i + f"k{i}:" for i in range(m.rng.randint(200, 2000))) + " end"
    else:
        fm = "tags: [" + ", ".join(f"t{i}" for i in range(m.rng.randint(10_000, 100_000))) + "]"
    m.write(f"---\n{fm}\n---\n{m.body()}")


@kind(15)
def fm_not_a_mapping(m: Maker) -> None:
    fm = m.rng.choice(("- a\n- b", "just a string", "42", "null", "~", "!!set {a, b}", "[1, 2, 3]", "",
                       "a: 1\n---\nb: 2", "...", "--- inner", "true"))
    m.write(f"---\n{fm}\n---\n{m.body()}")


@kind(20)
def fm_odd_values(m: Maker) -> None:
    fm = m.rng.choice((
        "owner: [a, b, {c: d}]", "owner: 12345", "title: " + "\x1b[2J\x1b]0;pwned\x07" + "evil",
        "updated: [2024-01-01, 2024-02-02]", "date: yes", "2024-01-01: date key\n~: null key\n1: int key",
        "superseded_by: ../../../../etc/passwd", "tags: " + str(list(range(5000))), "title: " + "é" * 50_000,
        "status: archived\nsuperseded_by: " + "a/" * 2000 + "b.md", "owner: '@' ", "updated: 2024-01-01T00:00:00-99:00",
        "title: \"\\u0000\\u001b nul and escape\"", "last_reviewed: 1970-01-01\nreview_by: 1969-12-31",
    ))
    m.write(f"---\n{fm}\n---\n{m.body()}")


# --------------------------------------------------------------------------- content


@kind(40)
def binary(m: Maker) -> None:
    style = m.rng.choice(("random", "png", "zip", "elf", "no-nul", "sqlite"))
    n = m.rng.randint(16, 200_000)
    data = m.rng.randbytes(n)
    if style == "png":
        data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + data
    elif style == "zip":
        data = b"PK\x03\x04" + data
    elif style == "elf":
        data = b"\x7fELF\x02\x01\x01\x00" + data
    elif style == "sqlite":
        data = b"SQLite format 3\x00" + data
    elif style == "no-nul":  # binary without a NUL byte: caught by UTF-8 decoding
        data = data.replace(b"\x00", b"\xff")
    m.write(data, m.rng.choice((".md", ".html", ".htm", ".markdown")))


@kind(40)
def non_utf8(m: Maker) -> None:
    text = m.body() + "\nCafé crème, naïve façade, Grüße, Привет, 日本語のテキスト, 😀.\n"
    enc = m.rng.choice(("latin-1", "cp1252", "shift_jis", "koi8-r", "utf-16", "utf-16-le", "utf-16-be", "utf-32",
                        "gb18030", "surrogate", "overlong", "truncated"))
    if enc == "surrogate":
        data = text.encode() + b"\xed\xa0\x80 a lone surrogate\n"
    elif enc == "overlong":
        data = text.encode() + b"\xc0\xaf overlong slash\n"
    elif enc == "truncated":
        data = text.encode() + "日".encode()[:2]
    else:
        data = text.encode(enc, errors="replace")
    m.write(data, m.rng.choice((".md", ".html")))


@kind(25)
def mixed_encoding(m: Maker) -> None:
    style = m.rng.choice(("latin1-paragraph", "bom-inside", "line-endings", "html-charset"))
    if style == "latin1-paragraph":
        data = m.body().encode() + "\nparagraphe en latin-1: été\n".encode("latin-1") + m.body().encode()
        m.write(data)
    elif style == "bom-inside":
        m.write(("\ufeff" + m.body() + "\ufeff" + m.body()).encode("utf-8"))
    elif style == "line-endings":
        lines = m.body().split("\n")
        m.write("".join(line + m.rng.choice(("\n", "\r\n", "\r", "\n\r", "\x85", "\u2028")) for line in lines))
    else:
        charset = m.rng.choice(("latin-1", "utf-16", "nonsense", "x" * 300))
        m.write(f'<html><head><meta charset="{charset}"></head><body><h1>Charset</h1><p>{m.words(10)} é</p>'
                "</body></html>", ".html")


@kind(30)
def nul_bytes(m: Maker) -> None:
    text = m.body(4).encode()
    where = m.rng.choice(("start", "early", "late", "everywhere", "heading"))
    if where == "start":
        data = b"\x00" + text
    elif where == "early":
        data = text[:20] + b"\x00" + text[20:]
    elif where == "late":  # past the first 8 KiB, where a binary sniff does not look
        data = text + b"\n" + (m.words(2000).encode() + b"\n") + b"late \x00 nul\n"
    elif where == "everywhere":
        data = b"\x00".join(text[i:i + 7] for i in range(0, len(text), 7))
    else:
        data = b"x" * 9000 + b"\n\n# Head\x00ing\n\ntext\x00\x00more\n"
    m.write(data, m.rng.choice((".md", ".html")))


@kind(40)
def control_chars(m: Maker) -> None:
    evil = m.rng.choice(("\x1b[2J\x1b[H", "\x1b]0;owned\x07", "\x1b]8;;http://evil/\x07link\x1b]8;;\x07",
                         "\x7f\x08\x08", "\x0c\x0b", "\u2028\u2029", "\u202eevil\u202c", "\u200b\u200d\ufeff",
                         "\x85\x9b31m", "\x00\x01\x02\x03", "\r", "\x1b[31;1;4m" * 50))
    style = m.rng.choice(("heading", "text", "front-matter", "html"))
    if style == "heading":
        m.write(f"# Title {evil}\n\n## {evil} Steps {evil}\n\n{m.words(10)}\n")
    elif style == "text":
        m.write(f"# Title\n\n{m.words(5)} {evil} {m.words(5)}\n\n```\n{evil}\n```\n")
    elif style == "front-matter":
        # as YAML escapes (the characters reach the page all the same) or raw, which YAML refuses; by the
        # entry number, so that the random draws, and the rest of the corpus, stay as they are
        value = evil if m.n % 2 else evil.encode("unicode_escape").decode()
        m.write(f'---\ntitle: "{value}"\nowner: "{value}"\n---\n{m.body()}')
    else:
        m.write(f"<html><head><title>{evil}</title></head><body><h1>{evil}</h1><p>{evil}{m.words(5)}</p></body></html>",
                ".html")


@kind(25)
def empty(m: Maker) -> None:
    data = m.rng.choice((b"", b" ", b"\n" * 1000, b"\t\r\n  \n", b"---\n---\n", b"---\ntitle: x\n---\n", b"# \n",
                         b"\xef\xbb\xbf", b"<html></html>", b"<!-- only a comment -->", b"#", b"---"))
    m.write(data, m.rng.choice((".md", ".html")))


@kind(25)
def long_lines(m: Maker) -> None:
    n = m.rng.randint(50_000, 1_000_000)
    style = m.rng.choice(("line", "heading", "html-heading", "backticks", "link", "table-row"))
    if style == "line":
        m.write(f"# Long\n\n{m.words(n // 8)}\n")
    elif style == "heading":
        m.write(f"# {'h' * n}\n\ntext under a long heading\n\n## {m.words(n // 16)}\n\nmore\n")
    elif style == "html-heading":
        m.write(f"<html><body><h1>{'h' * n}</h1><h2>{'x ' * (n // 2)}</h2><p>t</p></body></html>", ".html")
    elif style == "backticks":
        m.write("# Ticks\n\n" + "`" * (n // 10) + " code " + "`" * (n // 10 - 1) + "\n")
    elif style == "link":
        m.write("# Link\n\n[" + "a" * n + "](http://x/" + "b" * n + ")\n")
    else:
        m.write("# Table\n\n|" + "c|" * (n // 100) + "\n|" + "-|" * (n // 100) + "\n|" + "v|" * (n // 100) + "\n")


@kind(12)
def huge(m: Maker) -> None:
    style = m.rng.choice(("sparse", "sparse", "just-over", "just-under"))
    limit = 5 * 1024 * 1024
    p = m.path(m.rng.choice((".md", ".html")))
    if style == "sparse":  # a size that says it all: never read
        with open(p, "wb") as f:
            f.truncate(m.rng.randint(limit + 1, 64 * limit))
    elif style == "just-over":
        p.write_bytes(b"# Big\n\n" + (m.words(12) + "\n").encode() * (limit // 60) + b"x" * 2000)
        if p.stat().st_size <= limit:
            with open(p, "ab") as f:
                f.write(b"y" * (limit + 1 - p.stat().st_size))
    else:  # under the limit: read, parsed, one section with megabytes of text
        p.write_bytes(b"# Big\n\n" + (m.words(12) + "\n").encode() * m.rng.randint(10_000, 40_000))
    m.record(p)


@kind(6)
def many_sections(m: Maker) -> None:
    n = m.rng.randint(200, 1500)
    same = m.rng.random() < 0.5  # the same heading over and over: ordinals, anchors, one content hash
    parts = ["# Many"]
    for i in range(n):
        level = m.rng.randint(1, 6)
        parts.append(f"{'#' * level} {'Step' if same else m.words(2)} {'' if same else i}\n\nrun it\n")
    m.write("\n".join(parts))


@kind(40)
def deep_markdown(m: Maker) -> None:
    n = m.rng.randint(10, 600)
    style = m.rng.choice(("list", "quote", "mixed-line", "ordered", "one-line-list", "emphasis", "brackets",
                          "fence-in-list"))
    if style == "list":
        deep = "\n".join("  " * i + f"- level {i}" for i in range(n))
    elif style == "quote":
        deep = ">" * (n * 4) + " deep quote text"
    elif style == "mixed-line":
        deep = "> - " * n + "mixed"
    elif style == "ordered":
        deep = "\n".join("   " * i + f"{i + 1}. step {i}" for i in range(n))
    elif style == "one-line-list":
        deep = "- " * n + "x"
    elif style == "emphasis":
        deep = "*" * n + "strong" + "*" * n + " " + "_a " * n
    elif style == "brackets":
        deep = "[" * (n * 20) + "link" + "](x)" * n
    else:
        deep = "\n".join("  " * i + f"- item {i}\n" + "  " * (i + 1) + "```\n" + "  " * (i + 1) + "code\n"
                         + "  " * (i + 1) + "```" for i in range(n))
    m.write(f"# Deep\n\n## Before\n\n{m.words(6)}\n\n{deep}\n\n## After\n\n{m.words(6)}\n")


@kind(40)
def deep_html(m: Maker) -> None:
    n = m.rng.randint(100, 6000)
    tags = m.rng.choice((["div"], ["div", "section", "article"], ["ul", "li"], ["blockquote"], ["table", "tr", "td"],
                         ["b", "i", "span"], ["details", "summary"]))
    opens = "".join(f"<{tags[i % len(tags)]}>" for i in range(n))
    closes = "" if m.rng.random() < 0.3 else "".join(f"</{tags[i % len(tags)]}>" for i in reversed(range(n)))
    inside = m.rng.choice(("<p>deep text</p>", "<h2>Deep heading</h2><p>under it</p>", "text only", ""))
    main = m.rng.random() < 0.5
    page = f"<h1>Deep</h1>{opens}{inside}{closes}<h2>After</h2><p>{m.words(5)}</p>"
    m.write(f"<html><body>{'<main>' if main else ''}{page}{'</main>' if main else ''}</body></html>",
            m.rng.choice((".html", ".htm")))


@kind(30)
def malformed_html(m: Maker) -> None:
    body = m.rng.choice((
        "<h1>Unclosed script</h1><script>var a = '<h2>not a heading</h2>';",
        "<h1>Comment</h1><!-- never closed <h2>x</h2><p>y</p>",
        "<h1>Entities</h1><p>&#xFFFFFFFF; &#0; &#x110000; &#55296; &bogus; &amp&amp;&#</p>",
        "<h1>CDATA</h1><![CDATA[ <h2>raw</h2> ]]><p>after</p>",
        '<html><head><meta name="last-modified" content="2024-13-45"></head><body><h1>Bad date</h1><p>x</p></body>',

        '<html><head><meta property="article:modified_time" content="not a date at all"></head><body><p>x</p></body>',
        "<html><html><html><body><body><h1>Nested html</h1></body></html>",
        f'<p title="{"a" * 200_000}">huge attribute</p>',
        '<!DOCTYPE html [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><h1>&b;</h1>',
        "<h1></h1><h2></h2><h3> </h3>",
        "<style>h1 { color: red; }" + "x" * 10_000,
        "<main><main><main><h1>Mains</h1></main><nav><h2>nav</h2></nav></main></main>",
        "<h1>Broken <b><i>nesting</b></i></h1><p><div>block in p</p></div>",
        "<svg><h1>heading in svg</h1></svg><math><h2>in math</h2></math><template><h2>in template</h2></template>",
        "<" * 5000 + "h1>lt",
        '<time datetime="2024-02-30">bad time</time><time datetime="">empty</time><h1>Times</h1>',
    ))
    m.write(body, m.rng.choice((".html", ".htm")))


@kind(25)
def markdown_pathological(m: Maker) -> None:
    n = m.rng.randint(2_000, 30_000)
    text = m.rng.choice((
        "*a " * n, "a**" * n, "[a](" * n, "<" * n, "`" * n + "a", "![" * n, "_" * n, "\\" * n, "&#" * n,
        "\n".join(f"[ref{i}]: http://example.com/{i}" for i in range(n // 10)),
        "|" + "a|" * (n // 10) + "\n|" + "-|" * (n // 10),
        "=" * n + "\n" + "-" * n, "\n".join("- " * 3 + "x" for _ in range(n // 10)), "<!--" * n, "```\n" * (n // 50),
        "[a]: <" * n, "*" * n + "\n" + "*" * n,
    ))
    m.write(f"# Pathological\n\n{text}\n\n## After\n\n{m.words(5)}\n")


# --------------------------------------------------------------------------- names, links, special files


@kind(40)
def odd_names(m: Maker) -> None:
    d = m.rng.choice(m.dirs)
    name = m.rng.choice((
        b"bad-\xff\xfe.md", b"latin1-caf\xe9.md", b"half-\xe6\x97.md", b"new\nline.md", b"tab\there.md",
        b"  spaces  .md",
        b"-rf.md", b"--help.md", b"a" * 200 + b".md", b"..md", b"%2e%2e%2fescape.md", b"back\\slash.md",
        "caf\u00e9-nfc.md".encode(), "cafe\u0301-nfd.md".encode(), "rtl-\u202egpj.md".encode(),
        "emoji-\U0001f600.md".encode(),
        b"UPPER.MD", b"page.Markdown", b"page.HTM", b"double.md.md", b"CON.md", b"star*.md", b"quote\".md",
        b"question?.md", b"colon:.md",
    ))
    m.n += 1
    full = os.path.join(os.fsencode(d), b"%04d-" % m.n + name)
    with open(full, "wb") as f:
        f.write(m.body().encode())
    m.record(full)


@kind(15)
def symlink_loops(m: Maker) -> None:
    style = m.rng.choice(("to-parent", "to-root", "to-self", "pair", "file-self", "chain"))
    if style == "to-parent":
        m.link("..", "", page=False)
    elif style == "to-root":
        m.link(m.root, "", page=False)
    elif style == "to-self":
        p = m.path("")
        os.symlink(p.name, p)
        m.record(p, page=False)
    elif style == "pair":
        a, b = m.path(""), m.path("", folder=m.root / "ops")
        os.symlink(os.path.relpath(b, a.parent), a)
        os.symlink(os.path.relpath(a, b.parent), b)
        m.record(a, page=False)
        m.record(b, page=False)
    elif style == "file-self":
        p = m.path(".md")
        os.symlink(p.name, p)
        m.record(p)
    else:
        first = prev = m.path(".md")
        for _ in range(m.rng.randint(30, 60)):
            nxt = m.path(".md", folder=first.parent)
            os.symlink(nxt.name, prev)
            m.record(prev)
            prev = nxt
        os.symlink(first.name, prev)  # and back to the start
        m.record(prev)


@kind(15)
def symlink_out(m: Maker) -> None:
    outside = m.root.parent / "outside"
    target = m.rng.choice(("/etc/passwd", "/etc/hostname", "/etc", "/", "/proc/self/environ", "/proc/self/status",
                           str(outside / "secret.md"), str(outside), "../" * 12 + "etc/passwd"))
    page = target not in ("/etc", "/", str(outside))
    m.link(target, ".md" if page else "", page=page)


@kind(10)
def symlink_dev(m: Maker) -> None:
    m.link(m.rng.choice(("/dev/zero", "/dev/urandom", "/dev/null", "/dev/full", "/dev/random")),
           m.rng.choice((".md", ".html")))


@kind(12)
def special_files(m: Maker) -> None:
    style = m.rng.choice(("fifo", "fifo", "socket", "dir-named-md", "unreadable", "unreadable-dir"))
    if style == "fifo":
        p = m.path(m.rng.choice((".md", ".html")))
        os.mkfifo(p)
        m.record(p)
    elif style == "socket":
        p = m.path(".md", folder=m.root)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(str(p))
        finally:
            s.close()
        m.record(p)
    elif style == "dir-named-md":
        p = m.path(".md")
        p.mkdir()
        (p / "inner.md").write_text(m.body(), encoding="utf-8")
        m.record(p, page=False)
    elif style == "unreadable":
        p = m.write(m.body())
        p.chmod(0)
    else:
        p = m.path("")
        p.mkdir()
        (p / "hidden.md").write_text(m.body(), encoding="utf-8")
        p.chmod(0)
        m.record(p, page=False)


@kind(5)
def deep_dirs(m: Maker) -> None:
    d = m.path("")
    for i in range(m.rng.randint(30, 150)):
        d = d / f"d{i}"
    d.mkdir(parents=True)
    (d / "bottom.md").write_text(m.body(), encoding="utf-8")
    m.record(d / "bottom.md")


# --------------------------------------------------------------------------- making the corpus


def valid_page(m: Maker, i: int) -> None:
    """A valid page whose phrase is found nowhere else: a made-up code name and its procedure."""
    code = "".join(m.rng.choice(string.ascii_lowercase) for _ in range(7)) + f"{m.rng.randint(1000, 9999)}"
    phrase = f"To recover the {code} service, {m.rng.choice(WORDS)} the {m.rng.choice(WORDS)} of {code}"
    title = f"{code.title()} runbook"
    m.kind = "valid"
    folder = m.dirs[i % len(m.dirs)]
    if i % 5 == 4:
        p = m.path(".html", name=f"valid-{i:03d}.html", folder=folder)
        p.write_text(f'<html><head><title>{title}</title><meta name="last-modified" content="{m.date()}T10:00:00Z">'
                     f"</head><body><main><h1>{title}</h1><h2>Recovery</h2><p>{phrase}.</p>"
                     f"<h2>Checks</h2><p>{m.words(12)}.</p></main></body></html>", encoding="utf-8")
    else:
        p = m.path(".md", name=f"valid-{i:03d}.md", folder=folder)
        p.write_text(f"---\ntitle: {title}\nupdated: {m.date()}\nowner: '@acme/team-{i % 7}'\n---\n# {title}\n\n"
                     f"## Recovery\n\n{phrase}.\n\n## Checks\n\n{m.words(12)}.\n", encoding="utf-8")
    m.corpus.valid[p.relative_to(m.root).as_posix()] = phrase


def plant_outside(root: Path) -> None:
    """Files next to the corpus that links lead to: their text must never be indexed."""
    outside = root.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.md").write_text(f"# Secret\n\n{SECRET} do not index\n", encoding="utf-8")
    (outside / "other.md").write_text(f"# Other\n\n{SECRET} in a folder outside\n", encoding="utf-8")


def make_corpus(root: Path, count: int, valid: int, seed: int) -> Corpus:
    """`count` malformed entries (every kind at least once, the rest drawn by weight) and `valid` pages."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    plant_outside(root)
    m = Maker(root, rng)
    names = sorted(KINDS)
    plan = names + rng.choices(names, weights=[KINDS[k][0] for k in names], k=max(0, count - len(names)))
    rng.shuffle(plan)
    for i, name in enumerate(plan):
        m.kind = name
        KINDS[name][1](m)
        if valid and i % max(1, len(plan) // valid) == 0 and len(m.corpus.valid) < valid:
            valid_page(m, len(m.corpus.valid))  # valid pages among the hostile ones, not after them
    while len(m.corpus.valid) < valid:
        valid_page(m, len(m.corpus.valid))
    m.corpus.variants = len(plan)
    return m.corpus


# --------------------------------------------------------------------------- the crawl


@dataclass
class CrawlRun:
    cmd: list[str]
    exit_code: int | None  # None: killed after the timeout
    wall_s: float
    cpu_s: float  # user + system time of the crawl process: what the crawl cost, however busy the machine
    peak_rss_mb: float
    stdout: str
    stderr: str
    summary: dict[str, Any] | None


def run_crawl(corpus: Path, index: Path, model: str | None, timeout: float, env: dict[str, str]) -> CrawlRun:
    """`wikicheck crawl` as a child process; its peak RSS from os.wait4, which reports that child alone."""
    cmd = [sys.executable, "-m", "wikicheck", "crawl", str(corpus), "--index", str(index), "--json"]
    if model:
        cmd += ["--model", model]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=index.parent)
        status, usage = _wait(proc, t + timeout)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
    code = None if status is None else os.waitstatus_to_exitcode(status)
    try:
        summary = json.loads(stdout) if code == 0 else None
    except json.JSONDecodeError:
        summary = None
    cpu = usage.ru_utime + usage.ru_stime if usage else 0.0
    return CrawlRun(cmd, code, wall, cpu, usage.ru_maxrss / 1024 if usage else 0.0, stdout, stderr, summary)


def _wait(proc: subprocess.Popen[bytes], deadline: float) -> tuple[int | None, Any]:
    """(wait status or None when it ran past the deadline and was killed, its rusage)."""
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
            return status, usage
        if time.perf_counter() > deadline:
            proc.kill()
            _, _, usage = os.wait4(proc.pid, 0)
            proc.returncode = -9
            return None, usage
        time.sleep(0.05)


# --------------------------------------------------------------------------- what the crawl made of it


def check_store(index: Path, valid: dict[str, str]) -> dict[str, Any]:
    """Valid pages live with their phrase in a live, embedded section; and no text from outside the folder."""
    db = index / "wikicheck.db"
    if not db.exists():
        return {"valid_indexed": 0, "missing": sorted(valid), "leaks": 0, "documents": 0, "sections": 0}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        missing = [rel for rel, phrase in valid.items() if not con.execute(
            "select 1 from sections s join documents d on d.path = s.path and d.source = s.source "
            "where s.path = ? and s.removed_at is null and d.removed_at is null and instr(s.text, ?) > 0 "
            "and exists (select 1 from embeddings e where e.content_hash = s.content_hash)",
            [rel, phrase]).fetchone()]
        leaks = con.execute("select count(*) from sections where instr(text, ?) > 0 or instr(text, 'root:x:0:0') > 0",
                            [SECRET]).fetchone()[0]
        documents = con.execute("select count(*) from documents where removed_at is null").fetchone()[0]
        sections = con.execute("select count(*) from sections where removed_at is null").fetchone()[0]
    finally:
        con.close()
    return {"valid_indexed": len(valid) - len(missing), "missing": missing, "leaks": leaks, "documents": documents,
            "sections": sections}


def search_valid(index: Path, valid: dict[str, str], env: dict[str, str]) -> dict[str, Any]:
    """One `wikicheck search --queries-file` run: is each valid page in the top 5 for its phrase?"""
    queries = index.parent / "queries.txt"
    rels = sorted(valid)
    queries.write_text("\n".join(valid[r] for r in rels) + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "wikicheck", "search", "--queries-file", str(queries), "--index", str(index),
           "-k", "5", "--json", "--no-events"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=index.parent, timeout=600)
    if r.returncode != 0:
        return {"found": 0, "exit_code": r.returncode, "not_found": rels}
    runs = json.loads(r.stdout)["runs"]
    not_found = [rel for rel, run in zip(rels, runs, strict=True) if rel not in {x["path"] for x in run["results"]}]
    return {"found": len(rels) - len(not_found), "exit_code": 0, "not_found": not_found}


def per_kind(corpus: Corpus, warnings: list[dict[str, str]], indexed: set[str]) -> dict[str, dict[str, int]]:
    """For each kind: entries made, skipped with a warning, indexed with a warning, indexed, and neither."""
    warned = {w["path"]: w["message"] for w in warnings}
    table: dict[str, Counter[str]] = {}
    for e in corpus.entries:
        row = table.setdefault(e.kind, Counter())
        row["entries"] += 1
        msg = next((w for p, w in warned.items() if p == e.rel or p.startswith(e.rel + "/")), None)
        if e.rel in indexed:
            row["indexed, warned" if msg else "indexed"] += 1
        elif msg:
            row["skipped, warned"] += 1
        else:
            row["not a page" if not e.page else "dropped silently"] += 1
    return {k: dict(v) for k, v in table.items()}


def analyse(corpus: Corpus, run: CrawlRun, index: Path, env: dict[str, str], search: bool) -> dict[str, Any]:
    warnings = (run.summary or {}).get("warnings") or []
    crashed = run.exit_code == 4 or "Traceback" in run.stderr
    store = check_store(index, corpus.valid)
    indexed = _indexed_paths(index)
    result: dict[str, Any] = {
        "crawl_exit_code": run.exit_code, "crashes": int(crashed), "hung": int(run.exit_code is None),
        "malformed_variants": corpus.variants, "malformed_entries": len(corpus.entries),
        "valid_pages": len(corpus.valid),
        "warnings": len(warnings),
        "files_skipped_with_warning": len({w["path"] for w in warnings if "skipped" in w["message"]}),
        "pages_indexed_with_warning": len({w["path"] for w in warnings if "skipped" not in w["message"]}),
        "documents_indexed": store["documents"], "sections_indexed": store["sections"],
        "valid_indexed": store["valid_indexed"], "valid_missing": store["missing"], "leaks": store["leaks"],
        "wall_s": round(run.wall_s, 1), "cpu_s": round(run.cpu_s, 1), "peak_rss_mb": round(run.peak_rss_mb, 1),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "per_kind": per_kind(corpus, warnings, indexed),
        "stderr_tail": run.stderr[-2000:] if (crashed or run.exit_code) else "",
    }
    if search and run.exit_code == 0:
        result["search"] = search_valid(index, corpus.valid, env)
    result["ok"] = (run.exit_code == 0 and not crashed and store["valid_indexed"] == len(corpus.valid)
                    and not store["leaks"] and run.peak_rss_mb < RSS_TARGET_MB)
    return result


def _indexed_paths(index: Path) -> set[str]:
    db = index / "wikicheck.db"
    if not db.exists():
        return set()
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {r[0] for r in con.execute("select path from documents where removed_at is null")}
    finally:
        con.close()


# --------------------------------------------------------------------------- report


def print_report(r: dict[str, Any], args: argparse.Namespace, cmd: list[str]) -> None:
    s = r.get("search")
    rows = [
        ("command", "`" + " ".join(["wikicheck", *cmd[3:]]) + "`"),
        ("corpus", f"{r['malformed_variants']} malformed variants ({r['malformed_entries']} files, links and folders) "
                   f"+ {r['valid_pages']} valid pages, seed {args.seed}"),
        ("crawl exit code", str(r["crawl_exit_code"] if r["crawl_exit_code"] is not None else "killed (timeout)")),
        ("crashes (exit 4 or Traceback)", str(r["crashes"])),
        ("hung (killed after --timeout)", str(r["hung"])),
        ("files skipped with a warning", str(r["files_skipped_with_warning"])),
        ("pages indexed with a warning", str(r["pages_indexed_with_warning"])),
        ("documents / sections indexed", f"{r['documents_indexed']} / {r['sections_indexed']}"),
        ("valid pages indexed (store: live, phrase, vector)", f"{r['valid_indexed']} of {r['valid_pages']}"),
    ]
    if s:
        rows.append(("valid pages found by `wikicheck search` (top 5)", f"{s['found']} of {r['valid_pages']}"))
    rows += [
        ("text from outside the folder indexed", str(r["leaks"])),
        ("wall time (crawl)", f"{r['wall_s']:.1f} s"),
        ("CPU time (crawl process, user + system)", f"{r['cpu_s']:.1f} s"),
        ("peak RSS (crawl process)", f"{r['peak_rss_mb']:.0f} MB (target < {RSS_TARGET_MB} MB)"),
        ("machine", f"{os.cpu_count()} cores, Python {platform.python_version()}, load average "
                    + " / ".join(map(str, r["load_average"])) + " (1 / 5 / 15 min) at the end"),
    ]
    print("| measure | value |\n| --- | --- |")
    for k, v in rows:
        print(f"| {k} | {v} |")
    cols = ("entries", "skipped, warned", "indexed, warned", "indexed", "not a page", "dropped silently")
    print("\n| kind | " + " | ".join(cols) + " |\n| --- |" + " ---: |" * len(cols))
    for name, row in sorted(r["per_kind"].items()):
        print(f"| {name} | " + " | ".join(str(row.get(c, 0)) for c in cols) + " |")
    if r["valid_missing"]:
        print("\nvalid pages not indexed: " + ", ".join(r["valid_missing"]))
    if s and s["not_found"]:
        print("\nvalid pages not in the top 5 of search: " + ", ".join(s["not_found"]))
    if r["stderr_tail"]:
        print("\ncrawl stderr (end):\n" + r["stderr_tail"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=1000, help="malformed entries to make (default 1000)")
    ap.add_argument("--valid", type=int, default=50, help="valid pages with a unique phrase (default 50)")
    ap.add_argument("--seed", type=int, default=11, help="every variant is drawn from this seed (default 11)")
    ap.add_argument("--keep", default=None, help="make the corpus and the index in this new directory and keep them")
    ap.add_argument("--model", default=None, help="embedding model (default: wikicheck's, all-MiniLM-L6-v2)")
    ap.add_argument("--timeout", type=float, default=1800, help="kill the crawl after this many seconds (a hang)")
    ap.add_argument("--no-search", action="store_true", help="check the valid pages in the store only")
    ap.add_argument("--json-out", default=None, help="also write the results as JSON")
    args = ap.parse_args(argv)

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="wikicheck-fuzz-"))
    if args.keep:
        work.mkdir(parents=True, exist_ok=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIKICHECK_")}
    env.update(HF_HUB_OFFLINE="1", WIKICHECK_HOME=str(work / "home"), WIKICHECK_NO_EVENTS="1")
    try:
        t = time.perf_counter()
        corpus = make_corpus(work / "corpus", args.count, args.valid, args.seed)
        print(f"made {corpus.variants} malformed variants ({len(corpus.entries)} entries) and {len(corpus.valid)} "
              f"valid pages in {time.perf_counter() - t:.1f} s under {work}", file=sys.stderr)
        run = run_crawl(corpus.root, work / "index", args.model, args.timeout, env)
        result = analyse(corpus, run, work / "index", env, search=not args.no_search)
        print_report(result, args, run.cmd)
        if args.json_out:
            Path(args.json_out).write_text(json.dumps({"args": vars(args), **result}, indent=2, sort_keys=True),
                                           encoding="utf-8")
    finally:
        if not args.keep:
            _remove(work)
    return 0 if result["ok"] else 1


def _remove(work: Path) -> None:
    """Remove the work folder: links are unlinked (never followed), unreadable folders opened up first."""
    for d, dirs, _ in os.walk(work):
        for name in dirs:
            p = os.path.join(d, name)
            if not os.path.islink(p):
                os.chmod(p, 0o700)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
