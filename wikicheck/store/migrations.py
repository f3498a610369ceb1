"""Schema of the store. Append-only: never edit an applied migration, add m00N_ instead."""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("wikicheck")


@migrations()
def m001_core(db: Database) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["sources"].create(
        {
            "name": str,  # short stable name used in section ids
            "root": str,  # absolute path or URL
            "kind": str,  # folder | git | http
            "last_commit": str,  # git: newest commit whose history is imported
            "added_at": str,
            "last_crawled_at": str,
        },
        pk="name",
    )
    db["documents"].create(
        {
            "id": str,
            "source": str,
            "path": str,
            "kind": str,  # markdown | html
            "title": str,
            "url": str,
            "fingerprint": str,  # hash of the bytes or git blob id
            "size": int,
            "mtime": float,
            "changed_at": str,
            "author": str,
            "commit": str,
            "timestamp_source": str,
            "owner": str,
            "status": str,
            "superseded_by": str,
            "last_reviewed": str,
            "review_by": str,
            "meta": str,  # JSON of the front matter / page metadata
            "text": str,  # the raw page, so rules and rebuilds never need the source again
            "first_seen": str,
            "last_seen": str,
            "removed_at": str,
        },
        pk="id",
        foreign_keys=[("source", "sources", "name")],
    )
    db["documents"].create_index(["source", "path"], unique=True)
    db["sections"].create(
        {
            "key": int,  # integer id used in the faiss index
            "id": str,  # stable id: source, path, heading path, ordinal
            "document_id": str,
            "source": str,
            "path": str,
            "heading": str,
            "heading_path": str,  # JSON list
            "level": int,
            "ordinal": int,
            "anchor": str,
            "line_start": int,
            "line_end": int,
            "text": str,  # plain text, code verbatim
            "raw": str,  # source lines
            "content_hash": str,  # heading path + body: what gets embedded
            "body_hash": str,  # body alone, white space normalised
            "changed_at": str,
            "author": str,
            "commit": str,
            "timestamp_source": str,
            "first_seen": str,
            "last_seen": str,
            "removed_at": str,
        },
        pk="key",
        foreign_keys=[("document_id", "documents", "id")],
    )
    db["sections"].create_index(["id"], unique=True)
    db["sections"].create_index(["document_id"])
    db["sections"].create_index(["content_hash"])
    db["sections"].create_index(["body_hash"])
    db["section_versions"].create(
        {
            "id": int,
            "section_id": str,
            "document_id": str,
            "source": str,
            "path": str,
            "heading_path": str,
            "content_hash": str,
            "body_hash": str,
            "text": str,
            "valid_from": str,
            "valid_to": str,  # NULL while current
            "commit": str,  # commit (or page version) that introduced this text
            "author": str,
            "ended_by_commit": str,  # commit that changed or removed it
            "origin": str,  # git | crawl
        },
        pk="id",
    )
    db["section_versions"].create_index(["section_id", "valid_from"])
    db["section_versions"].create_index(["body_hash"])
    db["section_versions"].create_index(["document_id", "valid_to"])
    db["embeddings"].create(
        {"content_hash": str, "model_id": str, "vector": bytes, "created_at": str},
        pk=("content_hash", "model_id"),
    )
    db["crawls"].create(
        {
            "id": int,
            "started_at": str,
            "finished_at": str,
            "status": str,  # running | ok | failed (a killed run stays "running" with a dead pid)
            "pid": int,
            "sources": str,  # JSON list
            "documents": int,
            "sections_new": int,
            "sections_changed": int,
            "sections_unchanged": int,
            "sections_removed": int,
            "sections_embedded": int,
            "versions_added": int,
            "warnings": int,
            "seconds": float,
            "timings": str,  # JSON: seconds per phase
        },
        pk="id",
    )
    db["warnings"].create(
        {"id": int, "crawl_id": int, "source": str, "path": str, "message": str},
        pk="id",
        foreign_keys=[("crawl_id", "crawls", "id")],
    )


@migrations()
def m002_findings(db: Database) -> None:
    db["check_runs"].create(
        {
            "id": int,
            "started_at": str,
            "finished_at": str,
            "status": str,
            "config": str,  # JSON of the effective rule configuration
            "findings": int,
            "new": int,
            "resolved": int,
            "seconds": float,
            "summary": str,  # JSON
        },
        pk="id",
    )
    db["findings"].create(
        {
            "id": int,
            "run_id": int,
            "fingerprint": str,
            "rule": str,
            "name": str,
            "kind": str,
            "level": str,
            "scope": str,  # section | document
            "source": str,
            "document_id": str,
            "section_id": str,
            "path": str,
            "heading": str,
            "heading_path": str,  # JSON
            "line": int,
            "message": str,
            "evidence": str,  # JSON
            "newer_section_id": str,
            "newer": str,  # JSON {path, heading, section_id, changed_at}
            "owner": str,
            "changed_at": str,
            "first_seen_run": int,
        },
        pk="id",
        foreign_keys=[("run_id", "check_runs", "id")],
    )
    db["findings"].create_index(["run_id", "section_id"])
    db["findings"].create_index(["run_id", "document_id"])
    db["findings"].create_index(["fingerprint"])


@migrations()
def m003_guard_events(db: Database) -> None:
    # what the retrieval guard served: exposure for the owners' risk ranking (issue 5)
    db["guard_events"].create(
        {"id": int, "at": str, "section_id": str, "verdict": str, "replaces": str}, pk="id")
    db["guard_events"].create_index(["section_id"])


@migrations()
def m004_http_cache(db: Database) -> None:
    # issue 6: what the last crawl of an HTTP source learnt per URL, so that a re-crawl asks with
    # If-None-Match / If-Modified-Since and a 304 needs no download. Derived: losing it costs one
    # full fetch of the site, nothing else. Credentials are never part of it.
    db["http_cache"].create(
        {
            "source": str,
            "url": str,  # the URL that answered (after redirects)
            "kind": str,  # page | sitemap | sitemapindex
            "path": str,  # document path of a page
            "doc_url": str,  # the document's URL: canonical when the page names one
            "etag": str,
            "last_modified": str,  # the Last-Modified header, verbatim, for If-Modified-Since
            "fingerprint": str,  # of what the validators describe; the document's fingerprint when saved
            "links": str,  # JSON: page links that led nowhere yet (retried on a 304), sitemap entries
            "fetched_at": str,
        },
        pk=("source", "url"),
        foreign_keys=[("source", "sources", "name")],
    )


@migrations()
def m005_history_follows_text(db: Database) -> None:
    # issue 9: a page renamed (git -M, an HTTP redirect or canonical URL) is one page under two
    # names; a section moved to another page is one section that changed address. `renames` holds
    # what the source itself says moved; the text-level links are derived from section_versions at
    # check time (wikicheck.history), so they can always be recomputed from the store.
    db["renames"].create(
        {
            "id": int,
            "source": str,
            "old_path": str,
            "new_path": str,
            "at": str,  # when the new name took over (commit time, or the crawl that saw it)
            "commit": str,  # git: the commit of the rename; NULL elsewhere
            "origin": str,  # git | http
            "similarity": int,  # git's rename score (0-100); NULL where the source gives none
        },
        pk="id",
        foreign_keys=[("source", "sources", "name")],
    )
    db["renames"].create_index(["source", "old_path", "new_path", "at"], unique=True)
    db["renames"].create_index(["source", "new_path"])
    # the crawl that observed a version open and close: for sources without commits (folders, http)
    # "removed here and added there in the same crawl" is what "in the same commit" is for git
    db["section_versions"].add_column("seen_at", str)
    db["section_versions"].add_column("closed_at", str)


# the view as m006 created it (pg_schema.py creates the same one for PostgreSQL)
OPEN_FINDINGS_M006 = """
        select f.id, f.run_id, f.rule, f.name, f.level, f.kind, f.path, f.heading, f.line, f.message,
               f.owner, f.changed_at, f.first_seen_run, f.section_id, s.key as section_key,
               s.text as section_text, n.path as newer_path, n.heading as newer_heading,
               n.changed_at as newer_changed_at, n.text as newer_text, f.evidence
        from findings f
        left join sections s on s.id = f.section_id
        left join sections n on n.id = f.newer_section_id
        where f.run_id = (select max(id) from check_runs where status = 'ok')
    """


@migrations()
def m006_open_findings_view(db: Database) -> None:
    # issue 12: browsing the store (Datasette, sqlite3) should not need to know that `findings` keeps
    # the last runs side by side. `open_findings` is what the guard serves now: the findings of the
    # latest completed check, each with its section's own text and date, and the section it points to.
    db.create_view("open_findings", OPEN_FINDINGS_M006)


# the references m007 declares: (table, column, other table, other column). findings.first_seen_run is a
# run number, not one: check keeps the last runs only, and the run a finding was first seen in may be gone.
FOREIGN_KEYS = [
    ("sections", "source", "sources", "name"),
    ("section_versions", "section_id", "sections", "id"),
    ("section_versions", "document_id", "documents", "id"),
    ("section_versions", "source", "sources", "name"),
    ("findings", "section_id", "sections", "id"),
    ("findings", "newer_section_id", "sections", "id"),
    ("findings", "document_id", "documents", "id"),
    ("findings", "source", "sources", "name"),
    ("guard_events", "section_id", "sections", "id"),
    ("guard_events", "replaces", "sections", "id"),
]


@migrations()
def m007_foreign_keys(db: Database) -> None:
    # issue 12: the references between tables are declared, so that SQLite keeps them and Datasette
    # shows them as links. Every page and section the store has ever known now has its row, live or
    # not: the history also holds sections no crawl saw at the source (removed, renamed or moved in
    # commits before the first crawl, or between two crawls). Those rows are `known_from = 'history'`,
    # removed (`removed_at` set), so nothing serves, embeds or checks them.
    from ..dates import now_iso

    db["documents"].add_column("known_from", str, not_null_default="crawl")  # crawl | history
    db["sections"].add_column("known_from", str, not_null_default="crawl")
    _add_history_rows(db, now_iso())
    # sections are keyed by their stable id (Datasette opens a linked row by its primary key); `key`,
    # the faiss id, stays an integer of its own: unique, never reused, given by the trigger when a
    # writer leaves it out (the next after the largest, as the rowid alias gave it before)
    db["sections"].transform(pk="id")
    db["sections"].create_index(["key"], unique=True)
    db.execute("drop index idx_sections_id")  # the primary key's index now
    for table in dict.fromkeys(t for t, *_ in FOREIGN_KEYS):
        db[table].transform(add_foreign_keys=[(c, ot, oc) for t, c, ot, oc in FOREIGN_KEYS if t == table])
    db.execute("""create trigger sections_key after insert on sections when new.key is null begin
                    update sections set key = (select coalesce(max(key), 0) + 1 from sections) where id = new.id;
                  end""")
    problems = db.execute("PRAGMA foreign_key_check").fetchall()
    if problems:  # rolls the migration back: the store stays as it was, readable by this version
        raise RuntimeError(f"m007_foreign_keys: {len(problems)} references still dangle, e.g. {problems[0]}")


def _add_history_rows(db: Database, now: str) -> None:
    """Rows for the pages and sections that other tables name but `documents` and `sections` lack,
    from the last version the history has of each (or what the findings say of it): repaired, never
    dropped. `removed_at` of such a row is when the store recorded it (a crawl, or this upgrade)."""
    from ..sources.base import kind_of

    last_version = """select * from section_versions where {col} = ? order by valid_from desc, id desc limit 1"""
    ref = lambda table, col, other, key: db.execute(  # noqa: E731
        f"select distinct t.{col} from {table} t where t.{col} is not null "
        f"and not exists (select 1 from {other} o where o.{key} = t.{col})").fetchall()
    # sources first: a source only a history row or a finding names (a store edited by hand)
    for table in ("documents", "sections", "section_versions", "findings"):
        for (name,) in ref(table, "source", "sources", "name"):
            db["sources"].insert({"name": name, "root": "", "kind": "", "added_at": now})
    docs: dict[str, dict[str, Any]] = {}
    for table in ("sections", "section_versions", "findings"):
        for (doc_id,) in ref(table, "document_id", "documents", "id"):
            v = next(iter(db.query(last_version.format(col="document_id"), [doc_id])), None)
            f = next(iter(db.query("select * from findings where document_id = ? order by id desc limit 1", [doc_id])), None)
            r = v or f or {}
            docs[doc_id] = {
                "id": doc_id, "source": r.get("source"), "path": r.get("path"),
                "kind": kind_of(r["path"]) if r.get("path") else None,
                "changed_at": v["valid_from"] if v else None, "author": v["author"] if v else None,
                "commit": v["commit"] if v else None, "timestamp_source": "git" if v and v["origin"] == "git" else None,
                "removed_at": (v or {}).get("seen_at") or now, "known_from": "history",
            }
    db["documents"].insert_all(docs.values())
    secs: dict[str, dict[str, Any]] = {}
    for table, col in (("section_versions", "section_id"), ("findings", "section_id"), ("findings", "newer_section_id"),
                       ("guard_events", "section_id"), ("guard_events", "replaces")):
        for (sid,) in ref(table, col, "sections", "id"):
            if sid in secs:
                continue
            v = next(iter(db.query(last_version.format(col="section_id"), [sid])), None)
            f = next(iter(db.query("select * from findings where section_id = ? order by id desc limit 1", [sid])), None)
            r = v or f or {}
            hp = r.get("heading_path")
            heading = json.loads(hp)[-1] if hp and json.loads(hp) else (f or {}).get("heading")
            secs[sid] = {
                "id": sid, "document_id": r.get("document_id"), "source": r.get("source"), "path": r.get("path"),
                "heading": heading, "heading_path": hp, "text": v["text"] if v else None,
                "content_hash": v["content_hash"] if v else None, "body_hash": v["body_hash"] if v else None,
                "changed_at": v["valid_from"] if v else None, "author": v["author"] if v else None,
                "commit": v["commit"] if v else None, "timestamp_source": "git" if v and v["origin"] == "git" else None,
                "removed_at": (v or {}).get("seen_at") or now, "known_from": "history",
            }
    db["sections"].insert_all(secs.values())


@migrations()
def m008_claim_cache(db: Database) -> None:
    # issue 14: the claims of each distinct text (section or version), extracted once and kept for the
    # next check; `extractor` names the code that extracted them (a new extractor starts a new cache)
    db["claim_cache"].create({"text_hash": str, "extractor": str, "claims": str}, pk="text_hash")
