"""Schema of the PostgreSQL store (#15): the same tables, columns (in the same order), keys and
references as the SQLite store after its migrations (migrations.py), with PostgreSQL types.

Append-only like migrations.py: a change to the schema is a new migration in both files. The
PostgreSQL backend started at the SQLite store's m008, so its first migration creates that schema
whole. Text columns collate "C" (byte order), as SQLite compares text: `order by path` gives the
same order, and so the same outputs, on both backends. Vectors are pgvector `vector` values; the
HNSW graph over them is made per model once the live sections outnumber the flat-search threshold
(pg.PgVectors.ensure_index).
"""

from __future__ import annotations

from .migrations import OPEN_FINDINGS_M006

T = 'text collate "C"'

P001_SCHEMA = f"""
create extension if not exists vector;

create table meta (key {T} primary key, value {T});
create table sources (name {T} primary key, root {T}, kind {T}, last_commit {T}, added_at {T}, last_crawled_at {T});
create table documents (
  id {T} primary key, source {T} references sources(name), path {T}, kind {T}, title {T}, url {T},
  fingerprint {T}, size bigint, mtime double precision, changed_at {T}, author {T}, "commit" {T},
  timestamp_source {T}, owner {T}, status {T}, superseded_by {T}, last_reviewed {T}, review_by {T}, meta {T},
  text {T}, first_seen {T}, last_seen {T}, removed_at {T}, known_from {T} not null default 'crawl');
create unique index idx_documents_source_path on documents (source, path);
create table embeddings (
  content_hash {T}, model_id {T}, vector vector, created_at {T}, primary key (content_hash, model_id));
create table crawls (
  id bigserial primary key, started_at {T}, finished_at {T}, status {T}, pid bigint, sources {T}, documents bigint,
  sections_new bigint, sections_changed bigint, sections_unchanged bigint, sections_removed bigint,
  sections_embedded bigint, versions_added bigint, warnings bigint, seconds double precision, timings {T});
create table warnings (id bigserial primary key, crawl_id bigint references crawls(id), source {T}, path {T},
  message {T});
create table check_runs (
  id bigserial primary key, started_at {T}, finished_at {T}, status {T}, config {T}, findings bigint, new bigint,
  resolved bigint, seconds double precision, summary {T});
create table http_cache (
  source {T} references sources(name), url {T}, kind {T}, path {T}, doc_url {T}, etag {T}, last_modified {T},
  fingerprint {T}, links {T}, fetched_at {T}, primary key (source, url));
create table renames (
  id bigserial primary key, source {T} references sources(name), old_path {T}, new_path {T}, at {T},
  "commit" {T}, origin {T}, similarity bigint);
create unique index idx_renames_source_old_path_new_path_at on renames (source, old_path, new_path, at);
create index idx_renames_source_new_path on renames (source, new_path);
create sequence sections_key_seq;
create table sections (
  key bigint not null unique default nextval('sections_key_seq'), id {T} primary key,
  document_id {T} references documents(id), source {T} references sources(name), path {T}, heading {T},
  heading_path {T}, level bigint, ordinal bigint, anchor {T}, line_start bigint, line_end bigint, text {T},
  raw {T}, content_hash {T}, body_hash {T}, changed_at {T}, author {T}, "commit" {T}, timestamp_source {T},
  first_seen {T}, last_seen {T}, removed_at {T}, known_from {T} not null default 'crawl');
alter sequence sections_key_seq owned by sections.key;
create index idx_sections_document_id on sections (document_id);
create index idx_sections_content_hash on sections (content_hash);
create index idx_sections_body_hash on sections (body_hash);
create index idx_sections_live_key on sections (key) where removed_at is null;
create table section_versions (
  id bigserial primary key, section_id {T} references sections(id), document_id {T} references documents(id),
  source {T} references sources(name), path {T}, heading_path {T}, content_hash {T}, body_hash {T}, text {T},
  valid_from {T}, valid_to {T}, "commit" {T}, author {T}, ended_by_commit {T}, origin {T}, seen_at {T},
  closed_at {T});
create index idx_section_versions_section_id_valid_from on section_versions (section_id, valid_from);
create index idx_section_versions_body_hash on section_versions (body_hash);
create index idx_section_versions_document_id_valid_to on section_versions (document_id, valid_to);
create table findings (
  id bigserial primary key, run_id bigint references check_runs(id), fingerprint {T}, rule {T}, name {T},
  kind {T}, level {T}, scope {T}, source {T} references sources(name), document_id {T} references documents(id),
  section_id {T} references sections(id), path {T}, heading {T}, heading_path {T}, line bigint, message {T},
  evidence {T}, newer_section_id {T} references sections(id), newer {T}, owner {T}, changed_at {T},
  first_seen_run bigint);
create index idx_findings_run_id_section_id on findings (run_id, section_id);
create index idx_findings_run_id_document_id on findings (run_id, document_id);
create index idx_findings_fingerprint on findings (fingerprint);
create table guard_events (
  id bigserial primary key, at {T}, section_id {T} references sections(id), verdict {T},
  replaces {T} references sections(id));
create index idx_guard_events_section_id on guard_events (section_id);
create table claim_cache (text_hash {T} primary key, extractor {T}, claims {T});
create view open_findings as {OPEN_FINDINGS_M006};
"""

# (name, what it runs); applied in order, each in its own transaction, recorded in _wikicheck_migrations
MIGRATIONS: list[tuple[str, str]] = [
    ("p001_schema_as_sqlite_m008", P001_SCHEMA),
]

# the primary key of each table, for updates and upserts by key (PgTable)
PKS: dict[str, tuple[str, ...]] = {
    "meta": ("key",), "sources": ("name",), "documents": ("id",), "embeddings": ("content_hash", "model_id"),
    "crawls": ("id",), "warnings": ("id",), "check_runs": ("id",), "http_cache": ("source", "url"),
    "renames": ("id",), "sections": ("id",), "section_versions": ("id",), "findings": ("id",),
    "guard_events": ("id",), "claim_cache": ("text_hash",),
}
# tables whose key the database gives (bigserial): an insert returns it
SERIAL = {"crawls", "warnings", "check_runs", "renames", "section_versions", "findings", "guard_events"}
