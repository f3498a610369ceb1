"""The claim cache (#14): a recorded check keeps the claims it extracted, by text hash, and the next
check reads them instead of extracting them again, with the same findings. Real git repos, on both
store backends (an SQLite file, a real PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from rules.helpers import NO_AGE_RULES, check, copy_repo, crawl_check

from wikicheck import claims as claims_mod
from wikicheck.claims import EXTRACTOR, claims_from_json, claims_to_json, extract_claims, text_hash
from wikicheck.store import Store


@pytest.fixture
def counted(monkeypatch):
    """Counts the texts the drift analysis extracts claims from (not the ones it reads from the cache)."""
    calls: list[str] = []

    def counting(text: str):  # type: ignore[no-untyped-def]
        calls.append(text)
        return extract_claims(text)

    monkeypatch.setattr("wikicheck.drift.core.extract_claims", counting)
    return calls


def _rows(idx) -> dict[str, tuple[str, str]]:
    with Store.open(idx) as st:
        return {h: (e, c) for h, e, c in st.db.execute("select text_hash, extractor, claims from claim_cache")}


def _fingerprints(res) -> list[tuple[str, str, str]]:
    return sorted((f.fingerprint, f.kind, f.message) for f in res.findings)


def test_a_recorded_check_caches_claims_and_the_next_one_extracts_none(git_repo, any_location, counted):
    repo, _ = copy_repo(git_repo)
    idx = any_location
    first = crawl_check(repo, idx, NO_AGE_RULES, record=True)
    extracted = list(counted)
    assert extracted and any(f.rule == "WC203" for f in first.findings)
    rows = _rows(idx)
    # one row per distinct text, holding exactly what extract_claims gives
    assert set(rows) == {text_hash(t) for t in extracted}
    for t in extracted:
        extractor, raw = rows[text_hash(t)]
        assert extractor == EXTRACTOR and claims_from_json(raw) == extract_claims(t)
    counted.clear()
    second = check(idx, NO_AGE_RULES, record=True)
    assert counted == [] and _fingerprints(second) == _fingerprints(first)
    assert _rows(idx) == rows


def test_a_check_that_records_nothing_writes_no_claims(git_repo, any_location, counted):
    repo, _ = copy_repo(git_repo)
    idx = any_location
    crawl_check(repo, idx, NO_AGE_RULES, record=False)
    assert counted and _rows(idx) == {}


def test_claims_of_another_extractor_are_not_used_and_are_replaced(git_repo, any_location, counted, monkeypatch):
    repo, _ = copy_repo(git_repo)
    idx = any_location
    first = crawl_check(repo, idx, NO_AGE_RULES, record=True)
    n = len(counted)
    with Store.open(idx) as st:  # as an earlier version of the extraction code left them: other claims
        st.db.execute("update claim_cache set extractor = 'claims-older', claims = '[]'")
        st.db.conn.commit()
    counted.clear()
    again = check(idx, NO_AGE_RULES, record=True)
    assert len(counted) == n and _fingerprints(again) == _fingerprints(first)
    assert {e for e, _ in _rows(idx).values()} == {EXTRACTOR}


def test_only_new_texts_are_extracted_after_an_edit(git_repo, any_location, counted):
    from helpers import commit
    from rules.helpers import CANON, CANON_2024

    repo, _ = copy_repo(git_repo)
    idx = any_location
    crawl_check(repo, idx, NO_AGE_RULES, record=True)
    cached = set(_rows(idx))
    counted.clear()
    edited = CANON_2024.replace("pgbouncer.db.svc.cluster.local", "pooler.db.svc.cluster.local")
    assert edited != CANON_2024
    commit(repo, {CANON: edited}, "2024-05-01T10:00:00+00:00", "the pooler's new host")
    crawl_check(repo, idx, NO_AGE_RULES, record=True)
    assert counted and all("pooler.db.svc" in t for t in counted), counted  # the new text only
    assert {text_hash(t) for t in counted} & cached == set()


def test_the_extractor_names_this_code_and_claims_survive_json():
    assert EXTRACTOR.startswith("claims-") and len(EXTRACTOR) == len("claims-") + 16
    assert claims_mod._extractor_id() == EXTRACTOR
    text = ("Set `max_connections: 200` in pgbouncer.ini, then run\n\n```\n$ systemctl restart pgbouncer --now\n```\n"
            "See https://grafana.acme.internal/d/pg and port 6432; takes 30 s. Ünïcode ✓")
    got = extract_claims(text)
    assert got and claims_from_json(claims_to_json(got)) == got
    assert json.loads(claims_to_json(got)) == sorted(json.loads(claims_to_json(got)))  # stable: sorted
    assert text_hash(text) == text_hash(str(text)) != text_hash(text + " ")


def test_a_text_with_a_lone_surrogate_is_cached_and_read_back(any_store):
    """Claims are stored as ASCII JSON: a lone surrogate (which UTF-8 cannot hold) round-trips."""
    text = "Run `kubectl rollout restart deploy/api-\ud800` on host db-01.acme.internal"
    got = extract_claims(text)
    assert any("\ud800" in c.value for c in got)
    with any_store as st:
        st.put_claims(EXTRACTOR, {text_hash(text): claims_to_json(got)})
        back = st.cached_claims(EXTRACTOR)
    assert claims_from_json(back[text_hash(text)]) == got
