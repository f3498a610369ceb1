"""The claim cache (table `claim_cache`): the claims extracted from each distinct text, by text hash,
so that a check extracts only the texts it has not seen (wikicheck.claims.EXTRACTOR names the code
that extracted them). A cache: the check can always extract them again, so nothing else reads it."""

from __future__ import annotations

from ._base import StorePart


class ClaimCachePart(StorePart):
    def cached_claims(self, extractor: str) -> dict[str, str]:
        """{text hash: claims as JSON} of every text this extractor has seen."""
        return dict(self.db.execute("select text_hash, claims from claim_cache where extractor = ?", [extractor]))

    def put_claims(self, extractor: str, claims: dict[str, str]) -> None:
        """Add these texts' claims (JSON by text hash); a new extractor's first write drops the old
        extractor's rows, which no check reads again."""
        with self.transaction():
            self.db.execute("delete from claim_cache where extractor != ?", [extractor])
            self.db.conn.executemany("insert into claim_cache (text_hash, extractor, claims) values (?, ?, ?) on conflict (text_hash) "
                                     "do update set extractor = excluded.extractor, claims = excluded.claims",
                                     [(h, extractor, c) for h, c in claims.items()])
