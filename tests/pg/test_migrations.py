"""The PostgreSQL migrations (migrations/postgres) against the SQLite ones.

Runs inside a throw-away cluster (tests/pg/with_cluster.sh sets PGHOST and
friends); each test gets a database of its own. Scripts are applied the way
the migrator does: each one whole, in one call (psycopg2 hands it to libpq as
it is, like PQexec), in its own transaction, with its schema_migrations row (and, going
down, the schema_hold row) written in that transaction. At every version, up
and down, the PostgreSQL schema must read like the SQLite one at that version:
the same tables, columns (names, order, types as mapped, NOT NULL, defaults,
SQLite's rowid keys as identity columns), primary keys, UNIQUE constraints,
foreign keys with their actions, number of CHECK constraints, and explicit
indexes (columns, uniqueness, partial predicate).
"""

import os
import re
import sqlite3
from pathlib import Path

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import pytest

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
BOOKKEEPING = {"schema_migrations", "schema_hold"}
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

# The types of the SQLite scripts and what each becomes in PostgreSQL.
PG_TYPE = {"INTEGER": "bigint", "TEXT": "text", "BLOB": "bytea", "REAL": "double precision"}
PG_ACTION = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}

# What src/store/migrate.c creates beside the migrations, in PostgreSQL form.
SCHEMA_MIGRATIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, "
    "checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)"
)
SCHEMA_HOLD_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_hold (id BIGINT PRIMARY KEY CHECK (id = 1), "
    "version BIGINT NOT NULL, held_at BIGINT NOT NULL)"
)


def scripts(directory):
    """{version: (name, up_sql, down_sql)} of NNNN_name.up.sql/.down.sql."""
    out = {}
    for up in sorted(directory.glob("*.up.sql")):
        m = re.fullmatch(r"(\d+)_(.+)\.up\.sql", up.name)
        assert m, f"bad migration name {up}"
        down = up.with_name(up.name.replace(".up.sql", ".down.sql"))
        out[int(m.group(1))] = (m.group(2), up.read_text(), down.read_text())
    return out


SQLITE_SET = scripts(MIGRATIONS)
PG_SET = scripts(MIGRATIONS / "postgres")
VERSIONS = sorted(SQLITE_SET)


# --- applying -----------------------------------------------------------------


def pg_run(conn, version, up):
    """One migration on PostgreSQL, as the migrator runs it."""
    name, up_sql, down_sql = PG_SET[version]
    with conn, conn.cursor() as cur:
        cur.execute(SCHEMA_MIGRATIONS_DDL)
        cur.execute(up_sql if up else down_sql)
        assert (
            conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INTRANS
        ), f"migration {version} ({name}) ended the transaction itself"
        if up:
            cur.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (%s, %s, 'test', 0)",
                (version, name),
            )
        else:
            cur.execute("DELETE FROM schema_migrations WHERE version = %s", (version,))
            assert cur.rowcount == 1
            cur.execute(SCHEMA_HOLD_DDL)
            cur.execute(
                "INSERT INTO schema_hold (id, version, held_at) "
                "VALUES (1, (SELECT coalesce(max(version), 0) FROM schema_migrations), 0) "
                "ON CONFLICT (id) DO UPDATE SET version = excluded.version, held_at = excluded.held_at"
            )


def sqlite_run(db, version, up):
    name, up_sql, down_sql = SQLITE_SET[version]
    db.executescript("BEGIN;\n" + (up_sql if up else down_sql) + "\nCOMMIT;")


@pytest.fixture
def pg(request):
    """A connection to a new, empty database of the test's own."""
    assert os.environ.get("PGHOST"), "run through tests/pg/with_cluster.sh"
    dbname = "t_" + re.sub(r"\W", "_", request.node.name)[:60]
    admin = psycopg2.connect("")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
        cur.execute(f'CREATE DATABASE "{dbname}"')
    conn = psycopg2.connect(dbname=dbname)
    yield conn
    conn.close()
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE "{dbname}"')
    admin.close()


@pytest.fixture
def lite():
    db = sqlite3.connect(":memory:", isolation_level=None)
    yield db
    db.close()


def pg_query(conn, sql, args=None):
    with conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def pg_one(conn, sql, args=None):
    return pg_query(conn, sql, args)[0][0]


# --- reading a schema -----------------------------------------------------------
#
# Both sides come out as {table: {...}} and {index name: (...)}, in the
# PostgreSQL vocabulary, so that they compare with ==.


def norm_default(text):
    """'active'::text -> 'active'; SQLite's defaults are already bare."""
    return None if text is None else re.sub(r"::[a-z ]+$", "", text)


def norm_predicate(text):
    """A partial index's WHERE, without casts, parentheses and case."""
    if text is None:
        return None
    text = re.sub(r"::[a-z ]+", "", text).replace("(", " ").replace(")", " ")
    return " ".join(text.lower().split())


def sqlite_schema(db):
    tables, indexes = {}, {}
    rows = db.execute(
        "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    ).fetchall()
    for table, sql in rows:
        cols = db.execute(f"PRAGMA table_info({table})").fetchall()  # cid, name, type, notnull, dflt, pk
        pk = tuple(c[1] for c in sorted((c for c in cols if c[5]), key=lambda c: c[5]))
        rowid_key = pk[0] if len(pk) == 1 and [c[2] for c in cols if c[1] == pk[0]] == ["INTEGER"] else None
        unique, fks = set(), {}
        for _, iname, _, origin, _ in db.execute(f"PRAGMA index_list({table})").fetchall():
            icols = tuple(r[2] for r in db.execute(f"PRAGMA index_info({iname})").fetchall())
            if origin == "u":
                unique.add(icols)
        for fk_id, _, ref, frm, to, on_update, on_delete, _ in db.execute(f"PRAGMA foreign_key_list({table})"):
            cols_from, cols_to, _, _, _ = fks.get(fk_id, ((), (), ref, on_update, on_delete))
            fks[fk_id] = (cols_from + (frm,), cols_to + (to,), ref, on_update, on_delete)
        # CHECK constraints, counted in the definition without comments and strings.
        bare = re.sub(r"'(?:[^']|'')*'", "''", re.sub(r"--[^\n]*", "", sql))
        tables[table] = {
            # SQLite lets a non-rowid PRIMARY KEY column hold NULL; PostgreSQL
            # does not, and ours never do.
            "columns": [
                (c[1], PG_TYPE[c[2].upper()], bool(c[3]) or c[5] > 0, c[4], c[1] == rowid_key) for c in cols
            ],
            "primary_key": pk,
            "unique": sorted(unique),
            "foreign_keys": sorted(fks.values()),
            "checks": len(re.findall(r"\bCHECK\s*\(", bare, re.IGNORECASE)),
        }
    for iname, table, sql in db.execute(
        "SELECT name, tbl_name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL"
    ):
        icols = tuple(r[2] for r in db.execute(f"PRAGMA index_info({iname})").fetchall())
        where = re.search(r"\bWHERE\b(.*)$", sql, re.IGNORECASE | re.DOTALL)
        unique = bool(re.match(r"\s*CREATE\s+UNIQUE\b", sql, re.IGNORECASE))
        indexes[iname] = (table, icols, unique, norm_predicate(where.group(1)) if where else None)
    return tables, indexes


PG_COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
 WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
 ORDER BY c.relname, a.attnum
"""
# conkey/confkey as column names, in the constraint's order.
PG_CONSTRAINTS = """
SELECT c.conrelid::regclass::text, c.contype,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
               JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i),
       c.confrelid::regclass::text, c.confupdtype, c.confdeltype
  FROM pg_constraint c
 WHERE c.connamespace = current_schema()::regnamespace AND c.conrelid <> 0
"""
# Indexes not made by a PRIMARY KEY or UNIQUE constraint (SQLite's autoindexes).
PG_INDEXES = """
SELECT i.relname, t.relname,
       ARRAY(SELECT a.attname FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(n, o)
               JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n ORDER BY k.o),
       x.indisunique, pg_get_expr(x.indpred, x.indrelid)
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
 WHERE t.relnamespace = current_schema()::regnamespace
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.contype IN ('p', 'u'))
"""


def pg_schema(conn):
    tables, indexes = {}, {}
    for table, col, typ, notnull, default, identity in pg_query(conn, PG_COLUMNS):
        t = tables.setdefault(
            table, {"columns": [], "primary_key": (), "unique": [], "foreign_keys": [], "checks": 0}
        )
        # An identity column has no default of its own: SQLite's rowid key.
        t["columns"].append((col, typ, notnull, norm_default(default), identity == "d"))
    for table, kind, cols, ref_cols, ref, on_update, on_delete in pg_query(conn, PG_CONSTRAINTS):
        t = tables[table]
        if kind == "p":
            t["primary_key"] = tuple(cols)
        elif kind == "u":
            t["unique"] = sorted(t["unique"] + [tuple(cols)])
        elif kind == "f":
            fk = (tuple(cols), tuple(ref_cols), ref, PG_ACTION[on_update], PG_ACTION[on_delete])
            t["foreign_keys"] = sorted(t["foreign_keys"] + [fk])
        elif kind == "c":
            t["checks"] += 1
    for iname, table, cols, unique, predicate in pg_query(conn, PG_INDEXES):
        indexes[iname] = (table, tuple(cols), unique, norm_predicate(predicate))
    return tables, indexes


def assert_same_schema(conn, db, when):
    pg_tables, pg_indexes = pg_schema(conn)
    lite_tables, lite_indexes = sqlite_schema(db)
    assert "schema_migrations" in pg_tables, when
    for name in BOOKKEEPING:
        pg_tables.pop(name, None)
    assert sorted(pg_tables) == sorted(lite_tables), f"tables {when}"
    for name, lite_table in lite_tables.items():
        for aspect, lite_value in lite_table.items():
            assert pg_tables[name][aspect] == lite_value, f"{aspect} of {name} {when} (PostgreSQL == SQLite)"
    pg_indexes = {k: v for k, v in pg_indexes.items() if v[0] not in BOOKKEEPING}
    assert pg_indexes == lite_indexes, f"indexes {when}"


def assert_only_bookkeeping(conn):
    """Nothing of the migrations is left: no table, index, sequence, function."""
    classes = pg_query(
        conn, "SELECT relname, relkind FROM pg_class WHERE relnamespace = current_schema()::regnamespace"
    )
    assert sorted(classes) == [
        ("schema_hold", "r"),
        ("schema_hold_pkey", "i"),
        ("schema_migrations", "r"),
        ("schema_migrations_pkey", "i"),
    ]
    functions = pg_query(conn, "SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace")
    assert functions == []


# --- the tests ------------------------------------------------------------------


def test_every_sqlite_migration_has_a_postgres_pair_of_the_same_name():
    assert [(v, SQLITE_SET[v][0]) for v in VERSIONS] == [(v, PG_SET[v][0]) for v in sorted(PG_SET)]


def test_up_down_up_matches_the_sqlite_schema_at_every_version(pg, lite):
    for v in VERSIONS:
        pg_run(pg, v, up=True)
        sqlite_run(lite, v, up=True)
        assert_same_schema(pg, lite, f"after up {v}")
    for v in reversed(VERSIONS):
        pg_run(pg, v, up=False)
        sqlite_run(lite, v, up=False)
        if v > VERSIONS[0]:
            assert_same_schema(pg, lite, f"after down {v}")
    assert_only_bookkeeping(pg)
    assert pg_query(pg, "SELECT id, version FROM schema_hold") == [(1, 0)]
    for v in VERSIONS:
        pg_run(pg, v, up=True)
        sqlite_run(lite, v, up=True)
        assert_same_schema(pg, lite, f"after up {v} again")
    assert pg_one(pg, "SELECT max(version) FROM schema_migrations") == VERSIONS[-1]


def test_sat_add_holds_at_the_int64_bounds(pg):
    pg_run(pg, 1, up=True)
    # Constants: the planner folds the inlined function at plan time.
    assert pg_one(pg, "SELECT sat_add(9223372036854775807, 1)") == INT64_MAX
    assert pg_one(pg, "SELECT sat_add(9223372036854775807, 9223372036854775807)") == INT64_MAX
    assert pg_one(pg, "SELECT sat_add(-9223372036854775808, -1)") == INT64_MIN
    assert pg_one(pg, "SELECT sat_add(-9223372036854775808, -9223372036854775808)") == INT64_MIN
    assert pg_one(pg, "SELECT sat_add(9223372036854775807, -9223372036854775808)") == -1
    assert pg_one(pg, "SELECT sat_add(40, 2)") == 42
    assert pg_one(pg, "SELECT pg_typeof(sat_add(40, 2))::text") == "bigint"
    # NULL counts as 0, as in SQLite's C function.
    assert pg_one(pg, "SELECT sat_add(NULL, 5)") == 5
    assert pg_one(pg, "SELECT sat_add(5, NULL)") == 5
    assert pg_one(pg, "SELECT sat_add(NULL, NULL)") == 0
    # Column values, every pair of edges: the exact sum, held at the bounds.
    edges = [INT64_MIN, INT64_MIN + 1, -2, -1, 0, 1, 2, INT64_MAX - 1, INT64_MAX]
    rows = pg_query(
        pg, "SELECT a, b, sat_add(a, b) FROM unnest(%s::bigint[]) a, unnest(%s::bigint[]) b", (edges, edges)
    )
    assert len(rows) == len(edges) ** 2
    for a, b, got in rows:
        assert got == min(max(a + b, INT64_MIN), INT64_MAX), (a, b)


def test_sat_sum_holds_at_the_int64_bounds(pg):
    pg_run(pg, 1, up=True)

    def sat_sum(values):
        literal = ", ".join(f"({i}, CAST({'NULL' if v is None else v} AS bigint))" for i, v in enumerate(values))
        return pg_one(pg, f"SELECT sat_sum(x ORDER BY i) FROM (VALUES {literal}) v(i, x)")

    assert sat_sum([INT64_MAX, 1]) == INT64_MAX
    assert sat_sum([INT64_MAX, INT64_MAX, INT64_MAX]) == INT64_MAX
    assert sat_sum([INT64_MIN, -1]) == INT64_MIN
    assert sat_sum([1, None, 2]) == 3
    assert sat_sum([None, None]) == 0
    # The exact sum, held once: past the bound and back is within it.
    assert sat_sum([INT64_MAX, 1, -1]) == INT64_MAX
    assert sat_sum([INT64_MIN, -1, 1, 1]) == INT64_MIN + 1
    assert pg_one(pg, "SELECT sat_sum(x) FROM (VALUES (1::bigint)) v(x) WHERE false") == 0
    assert pg_one(pg, "SELECT pg_typeof(sat_sum(x))::text FROM (VALUES (1::bigint)) v(x)") == "bigint"


def test_usage_counters_stay_at_the_bound_through_sat_add(pg):
    for v in VERSIONS:
        pg_run(pg, v, up=True)
    # The shape of the store's daily usage upsert. PostgreSQL wants the old
    # row's columns qualified (SQLite accepts that too).
    upsert = (
        "INSERT INTO api_usage_daily (provider, model_name, date, request_count, token_in) "
        "VALUES ('echo', 'm', '2026-01-01', 1, %(tin)s) ON CONFLICT (provider, model_name, date) DO UPDATE SET "
        "request_count = sat_add(api_usage_daily.request_count, 1), "
        "token_in = sat_add(api_usage_daily.token_in, %(tin)s)"
    )
    pg_query(pg, upsert + " RETURNING 1", {"tin": INT64_MAX - 1})
    pg_query(pg, upsert + " RETURNING 1", {"tin": 5})
    assert pg_query(pg, "SELECT request_count, token_in FROM api_usage_daily") == [(2, INT64_MAX)]


def test_an_identity_key_gives_lastval_the_new_rows_id(pg):
    for v in VERSIONS:
        pg_run(pg, v, up=True)
    ids = []
    for path in ("/a", "/b"):
        pg_query(
            pg, "INSERT INTO projects (name, root_path, created_at, updated_at) VALUES ('p', %s, 0, 0) RETURNING 1", (path,)
        )
        ids.append(pg_one(pg, "SELECT lastval()"))
    assert ids[1] > ids[0]
    assert sorted(ids) == [r[0] for r in pg_query(pg, "SELECT id FROM projects ORDER BY id")]
    event = pg_one(
        pg, "INSERT INTO events (event_type, created_at, payload) VALUES ('t', 0, '\\x00'::bytea) RETURNING id"
    )
    assert pg_one(pg, "SELECT lastval()") == event


def test_claude_code_agents_exist_only_from_0006_and_block_its_down(pg):
    for v in VERSIONS:
        pg_run(pg, v, up=True)
    project = pg_one(
        pg, "INSERT INTO projects (name, root_path, created_at, updated_at) VALUES ('p', '/p', 0, 0) RETURNING id"
    )
    agent = (
        "INSERT INTO agents (project_id, name, role, model_provider, model_name, created_at, updated_at) "
        "VALUES (%s, %s, 'r', %s, 'm', 0, 0) RETURNING id"
    )
    claude = pg_one(pg, agent, (project, "c", "claude_code"))
    with pytest.raises(psycopg2.errors.CheckViolation):
        pg_query(pg, agent, (project, "x", "someone_else"))
    for v in sorted((v for v in VERSIONS if v > 6), reverse=True):
        pg_run(pg, v, up=False)
    with pytest.raises(psycopg2.errors.CheckViolation, match="still on the claude_code provider"):
        pg_run(pg, 6, up=False)
    assert pg_one(pg, "SELECT max(version) FROM schema_migrations") == 6
    pg_query(pg, "DELETE FROM agents WHERE id = %s RETURNING 1", (claude,))
    pg_run(pg, 6, up=False)
    with pytest.raises(psycopg2.errors.CheckViolation):
        pg_query(pg, agent, (project, "c", "claude_code"))
    pg_query(pg, agent, (project, "e", "echo"))
