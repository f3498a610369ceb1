"""One finding as a report item: where it is, its evidence as old-vs-new changes, its risk, its
owners and the suggested action; and the sums over items (summary, age chart)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ...dates import to_datetime
from ...owners import OwnerResolver, Ownership
from ...risk import EXPOSURE_DAYS, Exposure, exposure_of, score
from ...vocabulary import LEVEL_RANK, Situation, advise
from .escape import safe_url

MAX_CHANGES = 12


def _days(now: dt.datetime, when: str | None) -> int | None:
    if not when:
        return None
    try:
        return max(0, (now - to_datetime(when)).days)
    except ValueError:
        return None


# evidence keys an item shows elsewhere (changes, provenance)
_SHOWN_ELSEWHERE = {"claims", "old", "new", "term", "replacement", "changed_at", "age_days", "timestamp_source"}


def _evidence_view(finding: dict[str, Any]) -> dict[str, Any]:
    """Evidence as old-vs-new changes and flat details, whatever rule produced it."""
    ev = finding.get("evidence") or {}
    changes: list[dict[str, Any]] = []
    claims = ev.get("claims") or {}
    for c in claims.get("conflicts") or []:
        changes.append({"what": c.get("key") or c.get("type") or "", "old": c.get("old"), "new": c.get("new")})
    for c in claims.get("old_only") or []:
        changes.append({"what": f"{c.get('type', 'value')} only here", "old": c.get("value"), "new": None})
    for c in claims.get("new_only") or []:
        changes.append({"what": f"{c.get('type', 'value')} only in the newer section", "old": None, "new": c.get("value")})
    if ev.get("term") is not None and "replacement" in ev:
        changes.append({"what": "retired term", "old": ev.get("term"), "new": ev.get("replacement")})
    more = max(0, len(changes) - MAX_CHANGES)
    details = []
    for k in sorted(ev):
        v = ev[k]
        if k in _SHOWN_ELSEWHERE or isinstance(v, (dict, list)) or v is None:
            continue
        s = str(v)
        details.append({"key": k, "value": s if len(s) <= 300 else s[:297] + "..."})
    return {"changes": changes[:MAX_CHANGES], "more_changes": more, "details": details}


def suggest_action(finding: dict[str, Any], newer: dict[str, Any] | None, age_days: int | None,
                   exposure: Exposure, events_known: bool) -> dict[str, Any]:
    """update / archive / redirect, with the reasons, for one finding (the advice of its kind:
    wikicheck.vocabulary), then what the guard's events say."""
    where = f"{newer['path']} §{newer.get('heading') or '(top)'}" if newer else None
    served = exposure.served + exposure.warned
    action, reasons = advise(Situation(
        kind=finding["kind"], message=finding.get("message") or "", evidence=finding.get("evidence") or {},
        newer_where=where, age_days=age_days, served=served, events_known=events_known, window_days=EXPOSURE_DAYS))
    if served:
        reasons.append(f"agents were served this section {served} time(s) in the last {EXPOSURE_DAYS} days")
    elif exposure.blocked or exposure.replaced:
        reasons.append(f"agents asked for it {exposure.blocked + exposure.replaced} time(s) in the last "
                       f"{EXPOSURE_DAYS} days; the guard withheld it")
    return {"action": action, "target": newer["path"] if newer and action == "redirect" else None, "reasons": reasons}


@dataclass
class ReportContext:
    now: dt.datetime
    run_id: int
    sections: dict[str, dict[str, Any]]
    docs: dict[str, dict[str, Any]]
    doc_sections: dict[str, list[str]]
    exposure: dict[str, Exposure]
    events_known: bool
    resolver: OwnerResolver
    runs: dict[int, dict[str, Any]]


def ownership_of(ctx: ReportContext, f: dict[str, Any]) -> Ownership:
    return ctx.resolver.for_finding(f.get("scope"), ctx.sections.get(f.get("section_id") or ""),
                                    ctx.docs.get(f.get("document_id") or ""), source=f.get("source") or "",
                                    path=f["path"], recorded_owner=f.get("owner"))


def _url(doc: dict[str, Any] | None, sec: dict[str, Any] | None) -> str | None:
    """The page's URL (http sources), with the section's anchor."""
    if not doc or not doc.get("url"):
        return None
    anchor = (sec or {}).get("anchor")
    return safe_url(doc["url"] + (f"#{anchor}" if anchor else ""))


def report_item(ctx: ReportContext, f: dict[str, Any]) -> dict[str, Any]:
    doc = ctx.docs.get(f.get("document_id") or "") or {}
    sec = ctx.sections.get(f.get("section_id") or "")
    page = f.get("scope") == "document" or sec is None
    prov_src = doc if page and doc else (sec or {})
    changed = f.get("changed_at") or prov_src.get("changed_at")  # the date the rule judged
    age = _days(ctx.now, changed)
    sids = ctx.doc_sections.get(f.get("document_id") or "", []) if page else [f["section_id"]]
    exposure = exposure_of(sids, ctx.exposure)
    newer = dict(f["newer"]) if f.get("newer") else None
    if newer:
        nsec = ctx.sections.get(newer.get("section_id") or "")
        newer["url"] = _url(ctx.docs.get((nsec or {}).get("document_id") or ""), nsec)
    risk = score(f["level"], f["kind"], age, exposure)
    url = _url(doc, None if page else sec)
    first = f.get("first_seen_run")
    return {
        "status": "new" if first == ctx.run_id else "open",
        "first_seen_run": first,
        "first_seen_at": (ctx.runs.get(first) or {}).get("started_at") if first else None,
        "fingerprint": f["fingerprint"],
        "risk": risk.to_json() | {"explain": risk.explain()},
        "finding": {"rule": f["rule"], "name": f["name"], "kind": f["kind"], "level": f["level"],
                    "message": f["message"], "scope": "page" if page else "section", "line": f.get("line"),
                    "evidence": f.get("evidence") or {}},
        "evidence": _evidence_view(f),
        "section": {"source": f.get("source"), "path": f["path"], "heading": f.get("heading") or "",
                    "heading_path": f.get("heading_path") or [], "section_id": f.get("section_id"),
                    "anchor": (sec or {}).get("anchor"), "line": f.get("line"), "url": url, "title": doc.get("title")},
        "provenance": {"changed_at": changed, "age_days": age, "author": prov_src.get("author"),
                       "commit": prov_src.get("commit"), "timestamp_source": prov_src.get("timestamp_source")},
        "ownership": ownership_of(ctx, f).to_json(),
        "newer": newer,
        "action": suggest_action(f, newer, age, exposure, ctx.events_known),
    }


def level_ok(level: str, min_level: str) -> bool:
    return LEVEL_RANK.get(level, 0) >= LEVEL_RANK[min_level]


def item_sort_key(item: dict[str, Any]) -> tuple[Any, ...]:
    f = item["finding"]
    return (-item["risk"]["score"], -LEVEL_RANK.get(f["level"], 0), -(item["provenance"]["age_days"] or 0),
            item["section"]["path"], f.get("line") or 0, f["rule"])


AGE_BUCKETS = [("< 3 mo", 0, 91), ("3-6 mo", 91, 182), ("6-12 mo", 182, 365), ("1-2 y", 365, 730),
               ("2-3 y", 730, 1095), ("3+ y", 1095, None)]


def age_chart(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts of items by age of the section's last change, with SVG geometry for the HTML report."""
    counts = [0] * len(AGE_BUCKETS)
    unknown = 0
    for it in items:
        age = it["provenance"]["age_days"]
        if age is None:
            unknown += 1
            continue
        for i, (_, lo, hi) in enumerate(AGE_BUCKETS):
            if age >= lo and (hi is None or age < hi):
                counts[i] += 1
                break
    labels = [b[0] for b in AGE_BUCKETS] + (["unknown"] if unknown else [])
    values = counts + ([unknown] if unknown else [])
    width, height, top, bottom, left = 560, 190, 24, 34, 8
    slot = (width - 2 * left) / len(values)
    peak = max(values) or 1
    bars = []
    for i, (label, n) in enumerate(zip(labels, values)):
        h = round((height - top - bottom) * n / peak, 1)
        x = round(left + i * slot + slot * 0.15, 1)
        w = round(slot * 0.7, 1)
        y = round(height - bottom - h, 1)
        bars.append({"label": label, "count": n, "x": x, "y": y, "w": w, "h": h, "cx": round(x + w / 2, 1),
                     "label_y": height - bottom + 16, "count_y": round(y - 6, 1)})
    return {"width": width, "height": height, "baseline": height - bottom, "bars": bars, "total": sum(values)}


def summarise(items: list[dict[str, Any]], resolved: list[dict[str, Any]]) -> dict[str, Any]:
    by_level = {"error": 0, "warning": 0, "info": 0}
    by_kind: dict[str, int] = {}
    by_action: dict[str, int] = {}
    for it in items:
        by_level[it["finding"]["level"]] = by_level.get(it["finding"]["level"], 0) + 1
        by_kind[it["finding"]["kind"]] = by_kind.get(it["finding"]["kind"], 0) + 1
        by_action[it["action"]["action"]] = by_action.get(it["action"]["action"], 0) + 1
    new = sum(it["status"] == "new" for it in items)
    return {"items": len(items), "sections": len({it["section"]["section_id"] or it["section"]["path"] for it in items}),
            "by_level": by_level, "by_kind": dict(sorted(by_kind.items())), "by_action": dict(sorted(by_action.items())),
            "new": new, "still_open": len(items) - new, "resolved": len(resolved),
            "top_risk": max((it["risk"]["score"] for it in items), default=0)}
