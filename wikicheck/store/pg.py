"""The PostgreSQL + pgvector backend of the store (#15), behind the same gate as SQLite.

The store's parts (sources.py, versions.py, ...) write their SQL against a small interface: the
part of sqlite-utils' `Database` they use (`execute`, `query`, `table(...).insert/update/upsert`,
`conn.executemany`). `PgDatabase` is that interface over a psycopg connection, so one body of SQL
serves both backends: placeholders (`?` becomes `%s`) and bracketed names are translated here; the
few statements that must differ (a snapshot's isolation, a group's first row, trimming, the vector
type) say so where they are, with `self.dialect`.

The connection runs in autocommit: a statement outside `Store.transaction()` commits on its own,
as sqlite-utils commits each insert. A transaction is `conn.transaction()`; nested, a savepoint.

Concurrency is the database's: writers never block readers (MVCC), a reader's snapshot is a
REPEATABLE READ transaction, and the run that writes a store holds a session advisory lock
(`PgLock`), which the server releases when the session ends, so a killed crawl leaves no stale lock.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from typing import Any, Iterable, Iterator, Sequence

from ..errors import StoreLocked, StoreNotFound, WikicheckError
from .pg_schema import MIGRATIONS, PKS, SERIAL

URL_RE = re.compile(r"^postgres(ql)?://", re.I)
MIGRATIONS_TABLE = "_wikicheck_migrations"
_LOCK_NAMESPACE = 0x77636B  # "wck": the first half of every advisory lock key wikicheck takes


def is_store_url(location: object) -> bool:
    """Whether `location` names a PostgreSQL store (a postgresql:// URL) rather than an index directory."""
    return isinstance(location, str) and bool(URL_RE.match(location))


def redact(url: str) -> str:
    """The URL without its password, for messages and labels."""
    return re.sub(r"^(postgres(?:ql)?://[^:/@]*):[^@/]*@", r"\1:***@", url, flags=re.I)


# ---------------------------------------------------------------------------- SQL translation


@functools.lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """SQLite's parameter style and quoting to psycopg's: `?` -> `%s`, `%` -> `%%`, `[name]` ->
    `"name"` (`[]`, an array type, stays), outside string literals (which stay as they are, but for `%`)."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"":  # a literal or a quoted name: copied to its closing quote ('' and "" escape)
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i:j + 1].replace("%", "%%"))
            i = j + 1
            continue
        if c == "?":
            out.append("%s")
        elif c == "%":
            out.append("%%")
        elif c == "[" and sql.startswith("[]", i):  # an array type (vector[]), not a quoted name
            out.append("[]")
            i += 1
        elif c == "[":
            j = sql.index("]", i)
            out.append('"' + sql[i + 1:j] + '"')
            i = j
        else:
            out.append(c)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------------------- connection


def connect(url: str) -> Any:
    """A psycopg connection in autocommit (register_vector adds pgvector's types once the extension
    exists); a clear one-line error when the server cannot be reached or refuses."""
    try:
        import psycopg
    except ImportError:
        raise WikicheckError(f"{redact(url)}: a PostgreSQL store needs psycopg and pgvector; "
                             "install them with: pip install 'wikicheck[scale]'") from None
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=int(os.environ.get("WIKICHECK_PG_TIMEOUT", "10")),
                               application_name=f"wikicheck pid {os.getpid()}")
    except psycopg.Error as e:
        why = " ".join(str(e).split()) or type(e).__name__
        raise StoreNotFound(f"{redact(url)}: cannot connect to PostgreSQL ({why}); check the URL, "
                            "that the server runs and that it accepts this user") from None
    return conn


def register_vector(conn: Any) -> bool:
    """Register pgvector's types on `conn` (numpy arrays in and out); False before the extension exists."""
    from pgvector.psycopg import register_vector as reg

    try:
        reg(conn)
    except Exception:  # noqa: BLE001 - psycopg.ProgrammingError: "vector type not found in the database"
        return False
    return True


class PgCursor:
    """A psycopg cursor as sqlite3's: iteration, fetchone/fetchall, rowcount, description."""

    def __init__(self, cur: Any):
        self._cur = cur

    def fetchone(self) -> Any:
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall() if self._cur.description else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cur) if self._cur.description else iter(())

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    @property
    def description(self) -> Any:
        return self._cur.description


class PgConn:
    """The part of sqlite3.Connection the store uses, over psycopg."""

    def __init__(self, raw: Any):
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] | None = None, *, binary: bool = False) -> PgCursor:
        """`binary`: results in PostgreSQL's binary format, which pgvector's loader turns into an array
        at once (its text format is parsed number by number in Python: most of a search's time)."""
        return PgCursor(self.raw.execute(translate(sql), params if params else None, binary=binary))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            with self.raw.cursor() as cur:
                cur.executemany(translate(sql), rows)

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return bool(self.raw.info.transaction_status != TransactionStatus.IDLE)

    def begin_snapshot(self) -> None:
        """A read-only transaction that sees one state of the database until it ends (what a
        deferred BEGIN gives SQLite in WAL mode)."""
        self.raw.execute("begin isolation level repeatable read read only")

    def rollback(self) -> None:
        if self.in_transaction:
            self.raw.execute("rollback")

    def commit(self) -> None:
        """As sqlite3's: commit what a statement outside a transaction block began (in autocommit,
        there is nothing to commit unless BEGIN was sent by hand)."""
        if self.in_transaction:
            self.raw.execute("commit")

    def transaction(self) -> Any:
        return self.raw.transaction()

    def close(self) -> None:
        self.raw.close()


class PgTable:
    """The part of sqlite-utils' Table the store uses: insert (with last_pk), insert_all, update by
    key, upsert by key, rows_where."""

    def __init__(self, db: "PgDatabase", name: str):
        self.db, self.name = db, name
        self.last_pk: Any = None

    def _insert_sql(self, cols: Sequence[str]) -> str:
        return f'insert into {_q(self.name)} ({_cols(cols)}) values ({", ".join(["%s"] * len(cols))})'

    def insert(self, row: dict[str, Any]) -> "PgTable":
        cols = list(row)
        sql = self._insert_sql(cols)
        if self.name in SERIAL:
            self.last_pk = self.db.conn.raw.execute(sql + " returning id", [row[c] for c in cols]).fetchone()[0]
        else:
            self.db.conn.raw.execute(sql, [row[c] for c in cols])
            self.last_pk = row.get(PKS[self.name][0])
        return self

    def insert_all(self, rows: Iterable[dict[str, Any]]) -> "PgTable":
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault(tuple(r), []).append(r)
        for cols, group in groups.items():
            with self.db.conn.raw.cursor() as cur:
                cur.executemany(self._insert_sql(cols), [[r[c] for c in cols] for r in group])
        return self

    def update(self, pk: Any, row: dict[str, Any]) -> "PgTable":
        keys = PKS[self.name]
        pk_values = list(pk) if isinstance(pk, (tuple, list)) else [pk]
        sets = ", ".join(f'"{c}" = %s' for c in row)
        where = " and ".join(f'"{k}" = %s' for k in keys)
        self.db.conn.raw.execute(f'update "{self.name}" set {sets} where {where}', [*row.values(), *pk_values])
        self.last_pk = pk
        return self

    def upsert(self, row: dict[str, Any], pk: str | tuple[str, ...] | None = None) -> "PgTable":
        keys = (pk,) if isinstance(pk, str) else (pk or PKS[self.name])
        cols = list(row)
        rest = [c for c in cols if c not in keys]
        action = f"do update set {', '.join(f'{_q(c)} = excluded.{_q(c)}' for c in rest)}" if rest else "do nothing"
        self.db.conn.raw.execute(f"{self._insert_sql(cols)} on conflict ({_cols(keys)}) {action}",
                                 [row[c] for c in cols])
        self.last_pk = row.get(keys[0])
        return self

    def rows_where(self, where: str | None = None, where_args: Sequence[Any] | None = None,
                   order_by: str | None = None) -> Iterator[dict[str, Any]]:
        sql = f'select * from "{self.name}"' + (f" where {where}" if where else "") + \
              (f" order by {order_by}" if order_by else "")
        return self.db.query(sql, where_args)


class PgDatabase:
    """The part of sqlite-utils' Database the store uses, over one psycopg connection."""

    def __init__(self, raw: Any, url: str):
        self.conn = PgConn(raw)
        self.url = url

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgCursor:
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[dict[str, Any]]:
        from psycopg.rows import dict_row

        with self.conn.raw.cursor(row_factory=dict_row) as cur:
            cur.execute(translate(sql), params if params else None)
            rows = cur.fetchall() if cur.description else []
        return iter(rows)

    def table(self, name: str) -> PgTable:
        return PgTable(self, name)

    __getitem__ = table


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cols(cols: Iterable[str]) -> str:
    return ", ".join(_q(c) for c in cols)


# ---------------------------------------------------------------------------- migrations


def applied_migrations(raw: Any) -> list[str] | None:
    """The migrations applied to this database, None when it has no wikicheck schema at all."""
    exists = raw.execute("select to_regclass(%s)", [MIGRATIONS_TABLE]).fetchone()[0]
    if exists is None:
        return None
    return [r[0] for r in raw.execute(f"select name from {MIGRATIONS_TABLE} order by applied_at, name")]


def other_tables(raw: Any) -> list[str]:
    return [r[0] for r in raw.execute(
        "select table_name from information_schema.tables where table_schema = current_schema() order by 1")]


def migrate(raw: Any, url: str) -> None:
    """Apply the pending migrations, each in a transaction, under a transaction advisory lock (two
    processes opening a new database at once: the second waits, then finds them applied)."""
    from ..dates import now_iso

    done = set(applied_migrations(raw) or [])
    if len(done) == len(MIGRATIONS) and all(name in done for name, _ in MIGRATIONS):
        return
    with raw.transaction():
        raw.execute("select pg_advisory_xact_lock(%s, 0)", [_LOCK_NAMESPACE])
        raw.execute(f"create table if not exists {MIGRATIONS_TABLE} (name text primary key, applied_at text)")
        done = set(applied_migrations(raw) or [])
        for name, ddl in MIGRATIONS:
            if name in done:
                continue
            try:
                raw.execute(ddl)
            except Exception as e:  # noqa: BLE001 - psycopg.Error: the whole upgrade rolls back
                why = " ".join(str(e).split())
                hint = " (pgvector is not installed on this server: CREATE EXTENSION vector needs it)" \
                    if "vector" in why and "extension" in why else ""
                raise WikicheckError(f"{redact(url)}: cannot create the wikicheck schema ({why}){hint}") from None
            raw.execute(f"insert into {MIGRATIONS_TABLE} (name, applied_at) values (%s, %s)", [name, now_iso()])


# ---------------------------------------------------------------------------- the writer's lock


def lock_key(what: str = "write") -> int:
    return int.from_bytes(hashlib.sha1(what.encode()).digest()[:4], "big") >> 1


class PgLock:
    """The lock a run that writes a PostgreSQL store holds (IndexLock's counterpart): a session
    advisory lock on a connection of its own, taken without waiting. The server releases it when
    the session ends, so a killed crawl leaves no stale lock. The holder is named by its session's
    application_name ("wikicheck crawl, pid 12 on host")."""

    def __init__(self, url: str, what: str = "crawl"):
        self.url, self.what = url, what
        self.target = url  # what it locks (IndexLock: the index directory)
        self.conn: Any = None
        self.holder: str | None = None

    @property
    def fd(self) -> Any:  # "held" as IndexLock says it
        return self.conn

    def __enter__(self) -> "PgLock":
        import socket

        conn = connect(self.url)
        conn.execute("select set_config('application_name', %s, false)",
                     [f"wikicheck {self.what}, pid {os.getpid()} on {socket.gethostname()}"[:63]])
        got = conn.execute("select pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, lock_key()]).fetchone()[0]
        if not got:
            self.holder = holder(conn) or "unknown"
            conn.close()
            raise StoreLocked(f"store {redact(self.url)} is locked by another run ({self.holder}); wait for it to "
                              "finish, or check that no other wikicheck is writing this store")
        self.conn = conn
        return self

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            try:
                self.conn.close()  # ends the session: the server releases the lock
            finally:
                self.conn = None


def holder(raw: Any) -> str | None:
    """The application_name of the session that holds the writer's lock, None when nobody does."""
    row = raw.execute(
        "select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid "
        "where l.locktype = 'advisory' and l.granted and l.classid = %s and l.objid = %s and l.objsubid = 2 "
        "and l.database = (select oid from pg_database where datname = current_database()) limit 1",
        [_LOCK_NAMESPACE, lock_key()]).fetchone()
    return (row[0] or "a session without a name") if row else None


__all__ = ["PgDatabase", "PgLock", "connect", "holder", "is_store_url", "migrate", "redact", "translate"]
