"""Synthesise large stores by replicating a crawled corpus with perturbations (text and vectors).

Each replica is a separate "wiki" under its own folder: paths, titles and host names get a
replica token, section texts get a replica-specific sentence, and vectors get Gaussian noise
(re-normalised), so nearest-neighbour structure stays realistic without re-embedding 100k texts.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np

from wikicheck.index import build_index
from wikicheck.model import section_hashes, stable_id
from wikicheck.store import Store

_WORDS = ["alpha", "bravo", "cobalt", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper",
          "kestrel", "lumen", "marble", "nimbus", "onyx", "pylon", "quartz", "raven", "sierra", "tundra"]


def _token(r: int) -> str:
    a, b = divmod(r, len(_WORDS))
    return f"{_WORDS[b]}{a}"


def synthesise(base_index: str | Path, out_index: str | Path, target_sections: int, noise: float = 0.08,
               seed: int = 7) -> int:
    """Write a store with about `target_sections` live sections into `out_index`. Returns the count."""
    rng = np.random.default_rng(seed)
    base = Store.open(base_index)
    model = base.model_id()
    assert model, "base index has no embeddings"
    docs = list(base.db.query("select * from documents where removed_at is null"))
    secs = list(base.db.query("select * from sections where removed_at is null"))
    vers = list(base.db.query("select * from section_versions"))
    vecs = {r["content_hash"]: np.frombuffer(r["vector"], dtype="<f4")
            for r in base.db.query("select content_hash, vector from embeddings where model_id = ?", [model])}
    dim = int(base.get_meta("dim") or len(next(iter(vecs.values()))))
    replicas = max(1, round(target_sections / max(1, len(secs))))
    out = Path(out_index)
    out.mkdir(parents=True, exist_ok=True)
    for p in out.glob("*"):
        p.unlink()
    store = Store.open(out, create=True)
    store.set_meta("model_id", model)
    store.set_meta("dim", str(dim))
    conn: sqlite3.Connection = store.db.conn
    # a million sections make a store of ~10 GB: without a large page cache every insert into the
    # hash indexes reads pages back, and the synthesis takes hours instead of minutes
    conn.execute("PRAGMA cache_size = -1048576")  # KiB: 1 GiB
    key = 0
    with conn:
        for r in range(replicas):
            tok = _token(r)
            src = f"wiki-{tok}"
            conn.execute("insert into sources (name, root, kind, added_at) values (?, ?, 'git', '2026-01-01')",
                         [src, f"/synthetic/{src}"])
            doc_ids = {}
            for d in docs:
                new_id = stable_id(src, d["path"])
                doc_ids[d["id"]] = new_id
                title = f"{d['title']} {tok}" if d["title"] else None
                conn.execute(
                    "insert into documents (id, source, path, kind, title, fingerprint, changed_at, author, \"commit\", "
                    "timestamp_source, owner, meta, text, first_seen, last_seen) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [new_id, src, d["path"], d["kind"], title, d["fingerprint"], d["changed_at"], d["author"],
                     d["commit"], d["timestamp_source"], d["owner"], d["meta"], d["text"], d["first_seen"], d["last_seen"]])
            sec_ids = {}
            for s in secs:
                hp = json.loads(s["heading_path"])
                if hp:
                    hp[0] = f"{hp[0]} {tok}"
                text = _perturb(s["text"], tok, r)
                sid = stable_id(src, s["path"], *hp, s["ordinal"])
                sec_ids[s["id"]] = sid
                ch, bh = section_hashes(hp, text)
                key += 1
                conn.execute(
                    "insert into sections (key, id, document_id, source, path, heading, heading_path, level, ordinal, "
                    "anchor, line_start, line_end, text, raw, content_hash, body_hash, changed_at, author, \"commit\", "
                    "timestamp_source, first_seen, last_seen) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [key, sid, doc_ids[s["document_id"]], src, s["path"], hp[-1] if hp else "", json.dumps(hp),
                     s["level"], s["ordinal"], s["anchor"], s["line_start"], s["line_end"], text, s["raw"], ch, bh,
                     s["changed_at"], s["author"], s["commit"], s["timestamp_source"], s["first_seen"], s["last_seen"]])
                v = vecs.get(s["content_hash"])
                if v is not None:
                    w = v + rng.normal(0, noise, size=v.shape).astype("float32") if r else v.copy()
                    w = (w / np.linalg.norm(w)).astype("<f4")
                    conn.execute("insert or replace into embeddings (content_hash, model_id, vector, created_at) "
                                 "values (?, ?, ?, '2026-01-01')", [ch, model, w.tobytes()])
            past = set(doc_ids.values()) | set(sec_ids.values())  # the rows versions may refer to
            for v in vers:
                hp = json.loads(v["heading_path"])
                if hp:
                    hp[0] = f"{hp[0]} {tok}"
                text = _perturb(v["text"] or "", tok, r)
                ch, bh = section_hashes(hp, text)
                sid = sec_ids.get(v["section_id"]) or stable_id(src, v["path"], *hp, 0)
                did = doc_ids.get(v["document_id"], stable_id(src, v["path"]))
                if did not in past:  # a page only the history knows (#12)
                    past.add(did)
                    conn.execute("insert into documents (id, source, path, kind, removed_at, known_from) "
                                 "values (?, ?, ?, 'markdown', '2026-01-01', 'history')", [did, src, v["path"]])
                if sid not in past:  # a section only the history knows
                    past.add(sid)
                    key += 1
                    conn.execute("insert into sections (key, id, document_id, source, path, heading, heading_path, "
                                 "text, content_hash, body_hash, removed_at, known_from) "
                                 "values (?,?,?,?,?,?,?,?,?,?,'2026-01-01','history')",
                                 [key, sid, did, src, v["path"], hp[-1] if hp else "", json.dumps(hp), text, ch, bh])
                conn.execute(
                    "insert into section_versions (section_id, document_id, source, path, heading_path, content_hash, "
                    "body_hash, text, valid_from, valid_to, \"commit\", author, ended_by_commit, origin) "
                    "values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [sid, did, src, v["path"], json.dumps(hp),
                     ch, bh, text, v["valid_from"], v["valid_to"], v["commit"], v["author"], v["ended_by_commit"],
                     v["origin"]])
    build_index(store, out, model, force=True)
    # the base's ONNX export of the model (same model, nothing in it depends on the texts): the
    # guard then embeds queries as it does on the crawled index, without torch
    for name in ("embed.onnx", "embed-onnx.json", "embed-tokenizer.json"):
        if (Path(base_index) / name).is_file():
            shutil.copyfile(Path(base_index) / name, out / name)
    n = store.counts()["sections"]
    store.close()
    base.close()
    return n


def _perturb(text: str, tok: str, r: int) -> str:
    if r == 0:
        return text
    # replica-specific host names and one sentence, so replicas are distinct wikis
    text = re.sub(r"\b([a-z0-9-]+)\.(svc|internal|local|com|io)\b", lambda m: f"{m.group(1)}-{tok}.{m.group(2)}", text)
    return f"{text}\n\nMaintained by the {tok} operations group." if text else text
