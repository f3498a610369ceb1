"""One page of the reports, rendered: an owner's report, the index, or everything, as Markdown
(Jinja2 with an escaping finalizer), HTML (autoescape, inline CSS under a strict
Content-Security-Policy) or JSON (the stable, versioned contract)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from .escape import MdSafe, html_message, md_code, md_escape, md_link, md_message, safe_url

FORMATS = ("md", "html", "json")
TEMPLATES = Path(__file__).parent.parent / "templates"
SOURCE_NAMES = {"front_matter": "front matter", "codeowners": "CODEOWNERS", "config": "[owners] config",
                "git_author": "git author (fallback)", "none": "no owner"}


def count_of(n: int, noun: str) -> str:
    """'1 section', '2 sections', 'no section'."""
    return f"no {noun}" if not n else f"{n} {noun}{'' if n == 1 else 's'}"


def _envs() -> tuple[Any, Any]:
    import jinja2

    loader = jinja2.FileSystemLoader(str(TEMPLATES))
    html = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)
    md = jinja2.Environment(loader=loader, autoescape=False, undefined=jinja2.StrictUndefined,
                            finalize=md_escape, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    md.filters.update(code=md_code, link=md_link, raw=MdSafe, msg=md_message)
    html.filters["msg"] = html_message  # raw: output of a macro, escaped inside
    for env in (html, md):
        env.filters["safe_url"] = safe_url
        env.filters["date"] = lambda v: (v or "")[:10] or "unknown"
        env.filters["short"] = lambda v: (v or "")[:10]
        env.globals["SOURCE_NAMES"] = SOURCE_NAMES
        env.filters["count"] = count_of
    return html, md


_ENVS: tuple[Any, Any] | None = None


def _env(fmt: str) -> Any:
    global _ENVS
    if _ENVS is None:
        _ENVS = _envs()
    return _ENVS[0] if fmt == "html" else _ENVS[1]


def _css() -> str:
    return (TEMPLATES / "owners.css").read_text(encoding="utf-8")


def _page_json(bundle: dict[str, Any], report: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    head = {k: bundle[k] for k in ("version", "generator", "generated_at", "index", "run", "previous_run", "owner",
                                   "since_last_run", "min_level", "risk")}
    if kind == "owner-report":
        return head | {"kind": kind, "report": report}
    index = [_index_row(r, None) for r in bundle["reports"]]
    if kind == "index":
        return head | {"kind": kind, "summary": bundle["summary"], "age_chart": bundle["age_chart"], "owners": index,
                       "warnings": bundle["warnings"]}
    return head | {"kind": kind, "summary": bundle["summary"], "age_chart": bundle["age_chart"], "owners": index,
                   "warnings": bundle["warnings"], "reports": bundle["reports"]}


def _index_row(r: dict[str, Any], link: str | None) -> dict[str, Any]:
    s = r["summary"]
    return {"key": r["key"], "owner": r["owner"], "slug": r["slug"], "link": link, "ownership": r["ownership"]["sources"],
            "owned_sections": r["owned_sections"], "items": s["items"], "new": s["new"], "still_open": s["still_open"],
            "resolved": s["resolved"], "by_level": s["by_level"], "top_risk": s["top_risk"]}


def render(bundle: dict[str, Any], fmt: str, report: dict[str, Any] | None = None, *, page: str | None = None,
           links: str = "files") -> str:
    """One page: an owner's report, the index (page="index"), or everything (page="bundle").

    links: "files" (the index links to owner-<slug>.<fmt>) or "anchors" (one page holds every report).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    page = page or ("owner-report" if report is not None else "bundle")
    if fmt == "json":
        return json.dumps(_page_json(bundle, report, page), indent=2, sort_keys=True, default=str) + "\n"
    reports = [report] if page == "owner-report" else (bundle["reports"] if page == "bundle" else [])
    rows = []
    if page in ("index", "bundle"):
        for r in bundle["reports"]:
            link = f"{r['slug']}.{fmt}" if links == "files" else (f"#{r['slug']}" if fmt == "html" else None)
            rows.append(_index_row(r, link))
    title = ("Runbook owners report" if page != "owner-report"
             else f"Runbook report: {report['owner'] or 'unowned sections'}")  # type: ignore[index]
    ctx = {"b": bundle, "page": page, "reports": reports, "index_rows": rows, "title": title}
    if fmt == "html":
        css = _css()
        digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode()
        csp = (f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'none'; script-src 'none'; "
               "object-src 'none'; base-uri 'none'; form-action 'none'")
        return str(_env("html").get_template("owners.html.j2").render(ctx | {"css": css, "csp": csp}))
    return str(_env("md").get_template("owners.md.j2").render(ctx))
