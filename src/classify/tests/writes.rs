use super::super::{Class, Pin, WriteReason};
use super::{c, run_table};
use WriteReason::*;

/// Statements that must go to the primary, with the expected reason.
const WRITES: &[(&str, WriteReason)] = &[
    // DML
    ("INSERT INTO users (name) VALUES ('a')", Dml),
    ("insert into users values (1, 'a') returning id", Dml),
    ("UPDATE users SET name = 'b' WHERE id = 1", Dml),
    ("DELETE FROM users WHERE id = 1", Dml),
    ("MERGE INTO users u USING src s ON u.id = s.id WHEN MATCHED THEN UPDATE SET name = s.name", Dml),
    ("INSERT INTO t SELECT * FROM u ON CONFLICT (id) DO NOTHING", Dml),
    ("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;", Dml),
    ("UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;", Dml),
    ("UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;", Dml),
    ("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);", Dml),
    ("  /* app */ INSERT INTO t VALUES (1)", Dml),
    ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", Dml),
    ("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", Dml),
    ("WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT count(*) FROM x", Dml),
    ("WITH a AS (SELECT 1), b AS (INSERT INTO t VALUES (1) RETURNING id) SELECT * FROM a, b", Dml),
    ("SELECT * FROM (WITH d AS (DELETE FROM t RETURNING id) SELECT id FROM d) s", Dml),
    ("SELECT 1 WHERE EXISTS (WITH d AS (INSERT INTO t VALUES (1) RETURNING 1) SELECT 1 FROM d)", Dml),
    ("EXPLAIN ANALYZE INSERT INTO t VALUES (1)", Dml),
    ("EXPLAIN (ANALYZE) DELETE FROM t", Dml),
    ("EXPLAIN (ANALYZE true, BUFFERS) UPDATE t SET a = 1", Dml),
    ("EXPLAIN ANALYZE WITH x AS (DELETE FROM t RETURNING 1) SELECT * FROM x", Dml),
    // DDL
    ("CREATE TABLE t (id int primary key)", Ddl),
    ("CREATE INDEX ON t (a)", Ddl),
    ("CREATE UNIQUE INDEX CONCURRENTLY i ON t (a)", Ddl),
    ("CREATE VIEW v AS SELECT 1", Ddl),
    ("CREATE MATERIALIZED VIEW mv AS SELECT 1", Ddl),
    ("CREATE SEQUENCE s", Ddl),
    ("CREATE SCHEMA s", Ddl),
    ("CREATE TYPE mood AS ENUM ('a', 'b')", Ddl),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$", Ddl),
    ("CREATE EXTENSION IF NOT EXISTS pgcrypto", Ddl),
    ("CREATE TABLE t2 AS SELECT * FROM t", Ddl),
    ("ALTER TABLE t ADD COLUMN b int", Ddl),
    ("ALTER TABLE t RENAME TO u", Ddl),
    ("ALTER SEQUENCE s RESTART", Ddl),
    ("ALTER SYSTEM SET work_mem = '1MB'", Ddl),
    ("DROP TABLE t", Ddl),
    ("DROP INDEX IF EXISTS i", Ddl),
    ("DROP VIEW v CASCADE", Ddl),
    ("TRUNCATE t", Ddl),
    ("TRUNCATE TABLE a, b RESTART IDENTITY", Ddl),
    ("COMMENT ON TABLE t IS 'x'", Ddl),
    ("SECURITY LABEL ON TABLE t IS 'x'", Ddl),
    ("SELECT * INTO new_t FROM users", Ddl),
    ("SELECT id INTO TEMP tmp_ids FROM users", Ddl),
    ("select 1 as a into unlogged t3", Ddl),
    // DCL
    ("GRANT SELECT ON t TO bob", Dcl),
    ("REVOKE ALL ON t FROM bob", Dcl),
    ("CREATE ROLE bob LOGIN", Ddl),
    ("GRANT admin TO bob", Dcl),
    // maintenance
    ("VACUUM t", Maintenance),
    ("VACUUM (VERBOSE, ANALYZE) t", Maintenance),
    ("ANALYZE t", Maintenance),
    ("ANALYZE", Maintenance),
    ("CLUSTER t USING i", Maintenance),
    ("REINDEX TABLE t", Maintenance),
    ("REFRESH MATERIALIZED VIEW mv", Maintenance),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY mv", Maintenance),
    ("CHECKPOINT", Maintenance),
    // locking
    ("LOCK TABLE t IN ACCESS EXCLUSIVE MODE", Locking),
    ("LOCK t", Locking),
    ("SELECT * FROM t FOR UPDATE", Locking),
    ("SELECT * FROM t FOR SHARE", Locking),
    ("SELECT * FROM t WHERE id = 1 FOR UPDATE SKIP LOCKED", Locking),
    ("SELECT * FROM t WHERE id IN (SELECT id FROM u FOR UPDATE)", Locking),
    ("WITH l AS (SELECT * FROM t FOR UPDATE) SELECT * FROM l", Locking),
    ("SELECT * FROM (SELECT * FROM t FOR SHARE) s", Locking),
    ("SELECT pg_advisory_lock(1)", Locking),
    ("SELECT pg_advisory_xact_lock(1)", Locking),
    ("SELECT pg_try_advisory_lock(1, 2)", Locking),
    ("SELECT pg_advisory_unlock(1)", Locking),
    ("SELECT pg_catalog.pg_advisory_unlock_all()", Locking),
    // volatile and unknown functions, anywhere in the tree
    ("SELECT nextval('s')", VolatileFunction),
    ("SELECT setval('s', 10)", VolatileFunction),
    ("SELECT currval('s')", VolatileFunction),
    ("SELECT set_config('search_path', current_user, false)", VolatileFunction),
    ("SELECT set_config('app.user', '1', true)", VolatileFunction),
    ("SELECT txid_current()", VolatileFunction),
    ("SELECT pg_notify('ch', 'x')", VolatileFunction),
    ("SELECT lo_create(0)", VolatileFunction),
    ("SELECT pg_current_wal_lsn()", VolatileFunction),
    ("SELECT * FROM t WHERE id = nextval('s')", VolatileFunction),
    ("SELECT * FROM t WHERE id IN (SELECT nextval('s'))", VolatileFunction),
    ("WITH x AS (SELECT nextval('s') AS n) SELECT n FROM x", VolatileFunction),
    ("SELECT CASE WHEN a > 0 THEN nextval('s') END FROM t", VolatileFunction),
    ("SELECT nextval('s')::text", VolatileFunction),
    ("SELECT CAST(nextval('s') AS text)", VolatileFunction),
    ("SELECT * FROM t ORDER BY nextval('s')", VolatileFunction),
    ("SELECT a FROM t GROUP BY a HAVING count(*) > nextval('s')", VolatileFunction),
    ("SELECT count(*) FILTER (WHERE nextval('s') > 0) FROM t", VolatileFunction),
    ("SELECT row_number() OVER (ORDER BY nextval('s')) FROM t", VolatileFunction),
    ("VALUES (1, nextval('s'))", VolatileFunction),
    ("SELECT * FROM t JOIN u ON u.id = nextval('s')", VolatileFunction),
    ("SELECT 1 UNION ALL SELECT nextval('s')", VolatileFunction),
    ("SELECT ARRAY[nextval('s')]", VolatileFunction),
    ("SELECT coalesce(null, nextval('s'))", VolatileFunction),
    ("SELECT * FROM t LIMIT nextval('s')", VolatileFunction),
    ("SELECT * FROM t, LATERAL (SELECT nextval('s')) x", VolatileFunction),
    ("SELECT my_func(1)", UnknownFunction),
    ("SELECT public.my_func(1)", UnknownFunction),
    ("SELECT * FROM my_srf(1)", UnknownFunction),
    ("SELECT * FROM public.my_srf(1) AS f(a)", UnknownFunction),
    ("SELECT * FROM t WHERE my_check(t.a)", UnknownFunction),
    ("SELECT public.now()", UnknownFunction),
    ("SELECT \"NOW\"()", UnknownFunction),
    ("EXPLAIN ANALYZE SELECT nextval('s')", VolatileFunction),
    // procedural, notify, copy
    ("CALL p(1)", Procedural),
    ("DO $$ BEGIN PERFORM 1; END $$", Procedural),
    ("DO LANGUAGE plpgsql 'BEGIN END'", Procedural),
    ("NOTIFY ch", Notify),
    ("NOTIFY ch, 'payload'", Notify),
    ("UNLISTEN *", Notify),
    ("UNLISTEN ch", Notify),
    ("COPY users FROM STDIN", Copy),
    ("COPY users (id, name) FROM STDIN WITH (FORMAT csv)", Copy),
    ("COPY users TO '/tmp/x.csv'", Copy),
    // EXECUTE is a write until the proxy resolves the prepared statement
    ("EXECUTE p", Execute),
    ("EXECUTE p(1, 'a')", Execute),
    ("EXECUTE p(nextval('s'))", VolatileFunction),
    // multi-statement
    ("SELECT 1; INSERT INTO t VALUES (1)", Dml),
    ("INSERT INTO t VALUES (1); SELECT 1", Dml),
    ("BEGIN; SELECT 1; COMMIT", MultiStatement),
    ("SET x.y = 1; SELECT 1", MultiStatement),
    ("BEGIN READ ONLY; SELECT 1; COMMIT;", MultiStatement),
    ("SELECT 1; SELECT nextval('s')", VolatileFunction),
    ("UPDATE t SET a = ';'", Dml),
    // unparseable text
    ("this is not sql", Unparseable),
    ("SELECT FROM WHERE", Unparseable),
    ("SELEC 1", Unparseable),
    ("SELECT (", Unparseable),
    ("SELECT * FROM t FOR NO KEY UPDATE", Unparseable),
    ("SELECT * FROM t FOR KEY SHARE", Unparseable),
    ("\\d users", Unparseable),
    ("IMPORT FOREIGN SCHEMA s FROM SERVER x INTO y", Ddl),
    ("REASSIGN OWNED BY a TO b", Dcl),
    ("DECLARE c CURSOR FOR SELECT * FROM t FOR UPDATE", Locking),
    ("EXPLAIN CREATE TABLE t AS SELECT 1", Other),
];

#[test]
fn writes_table() {
    run_table(WRITES, |(sql, reason)| {
        let got = c(sql);
        (got.class != Class::Write(*reason))
            .then(|| format!("{sql:?}: want Write({reason:?}), got {:?}", got.class))
    });
}

/// Statements whose class is a write and that pin the session.
const PINS: &[(&str, Option<Pin>)] = &[
    ("CREATE TEMP TABLE t (a int)", Some(Pin::TempTable)),
    ("CREATE TEMPORARY TABLE t AS SELECT 1", Some(Pin::TempTable)),
    (
        "create local temporary table t (a int) on commit drop",
        Some(Pin::TempTable),
    ),
    ("CREATE TEMP VIEW v AS SELECT 1", Some(Pin::TempTable)),
    ("CREATE TEMP SEQUENCE s", Some(Pin::TempTable)),
    ("SELECT * INTO TEMP t FROM users", Some(Pin::TempTable)),
    (
        "SELECT * INTO TEMPORARY TABLE t FROM users",
        Some(Pin::TempTable),
    ),
    ("CREATE TABLE attempts (a int)", None),
    ("LISTEN ch", Some(Pin::Listen)),
    ("listen \"Chan\"", Some(Pin::Listen)),
    ("UNLISTEN ch", None),
    ("SELECT pg_advisory_lock(1)", Some(Pin::AdvisoryLock)),
    ("SELECT pg_advisory_lock_shared(1)", Some(Pin::AdvisoryLock)),
    ("SELECT pg_try_advisory_lock(1)", Some(Pin::AdvisoryLock)),
    (
        "SELECT pg_catalog.pg_try_advisory_lock_shared(1, 2)",
        Some(Pin::AdvisoryLock),
    ),
    (
        "SELECT 1 FROM t WHERE pg_try_advisory_lock(t.id)",
        Some(Pin::AdvisoryLock),
    ),
    (
        "SELECT nextval('s'), pg_advisory_lock(1)",
        Some(Pin::AdvisoryLock),
    ),
    (
        "UPDATE t SET a = 1 WHERE pg_advisory_lock(id) IS NOT NULL",
        Some(Pin::AdvisoryLock),
    ),
    ("SELECT pg_advisory_xact_lock(1)", None),
    ("SELECT pg_try_advisory_xact_lock(1)", None),
    ("SELECT pg_advisory_unlock(1)", None),
    (
        "DECLARE c CURSOR WITH HOLD FOR SELECT * FROM t",
        Some(Pin::HoldCursor),
    ),
    (
        "DECLARE c NO SCROLL CURSOR WITH HOLD FOR SELECT 1",
        Some(Pin::HoldCursor),
    ),
    ("DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1", None),
    ("DECLARE c CURSOR FOR SELECT 1", None),
    ("SELECT 1; LISTEN ch", Some(Pin::Listen)),
    // set_config the proxy cannot track pins; a transaction-local one and
    // the lone literal form (tracked like SET) do not.
    (
        "SELECT set_config('a.b', x, false) FROM t",
        Some(Pin::Setting),
    ),
    (
        "SELECT set_config('a.b', 'v', false), 1",
        Some(Pin::Setting),
    ),
    ("SELECT set_config('a.b', $1, false)", Some(Pin::Setting)),
    ("SELECT set_config('a.b', 'v', true)", None),
    ("SELECT set_config('a.b', 'v', 'on')", None),
    ("SELECT set_config('a.b', 'v', false)", None),
    // Text sqlparser cannot parse (FOR NO KEY UPDATE, CREATE … (LIKE …)):
    // pinned by its keywords when it may leave state in the session.
    ("SELECT * FROM t FOR NO KEY UPDATE", None),
    (
        "SET a.b = 1; SELECT * FROM t FOR NO KEY UPDATE",
        Some(Pin::Setting),
    ),
    (
        "/* x */ reset a.b; SELECT * FROM t FOR NO KEY UPDATE",
        Some(Pin::Setting),
    ),
    ("SET LOCAL a.b = 1; SELECT * FROM t FOR NO KEY UPDATE", None),
    ("SET CONSTRAINTS ALL DEFERRED", None),
    (
        "LISTEN ch; SELECT * FROM t FOR NO KEY UPDATE",
        Some(Pin::Listen),
    ),
    (
        "SELECT pg_advisory_lock(1) FROM t FOR NO KEY UPDATE",
        Some(Pin::AdvisoryLock),
    ),
    (
        "SELECT pg_advisory_xact_lock(1) FROM t FOR NO KEY UPDATE",
        None,
    ),
    (
        "SELECT set_config('a', 'b', false) FROM t FOR NO KEY UPDATE",
        Some(Pin::Setting),
    ),
    (
        "DECLARE c NO SCROLL CURSOR WITH HOLD FOR SELECT * FROM t FOR NO KEY UPDATE",
        Some(Pin::HoldCursor),
    ),
    (
        "DECLARE c CURSOR FOR SELECT * FROM t FOR NO KEY UPDATE",
        None,
    ),
    (
        "PREPARE p AS SELECT * FROM t FOR NO KEY UPDATE",
        Some(Pin::Setting),
    ),
    (
        "CREATE TEMP TABLE t (LIKE u INCLUDING ALL)",
        Some(Pin::TempTable),
    ),
    (
        "create global temporary table t (like u including all)",
        Some(Pin::TempTable),
    ),
    ("CREATE TABLE temp (LIKE u INCLUDING ALL)", None),
];

#[test]
fn pins_table() {
    run_table(PINS, |(sql, pin)| {
        let got = c(sql);
        (got.pin != *pin).then(|| {
            format!(
                "{sql:?}: want pin {pin:?}, got {:?} ({:?})",
                got.pin, got.class
            )
        })
    });
}

#[test]
fn pinned_statements_are_writes() {
    run_table(PINS, |(sql, pin)| {
        let got = c(sql);
        (pin.is_some() && !got.class.is_write())
            .then(|| format!("{sql:?}: pinned but {:?}", got.class))
    });
}

#[test]
fn reason_labels_are_distinct_snake_case() {
    let all = [
        Dml,
        Ddl,
        Dcl,
        Maintenance,
        Locking,
        VolatileFunction,
        UnknownFunction,
        Procedural,
        Notify,
        Copy,
        Execute,
        MultiStatement,
        Unparseable,
        Other,
    ];
    let mut labels: Vec<&str> = all.iter().map(|r| r.as_str()).collect();
    assert!(labels
        .iter()
        .all(|l| l.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    labels.sort_unstable();
    labels.dedup();
    assert_eq!(labels.len(), all.len());
}

/// SET spellings sqlparser lacks, classified as the SETs PostgreSQL
/// documents them to be, so they are tracked and replayed like any other.
#[test]
fn respelled_sets_table() {
    use super::super::SessionCmd;
    let set = |name: &str, value: &str, local: bool| {
        Class::Session(SessionCmd::Set {
            name: name.to_owned(),
            value: value.to_owned(),
            local,
        })
    };
    let cases = [
        ("SET SCHEMA 'app'", set("search_path", "'app'", false)),
        (
            "set session schema 'app';",
            set("search_path", "'app'", false),
        ),
        ("SET LOCAL SCHEMA 'app'", set("search_path", "'app'", true)),
        (
            "SET XML OPTION DOCUMENT",
            set("xmloption", "document", false),
        ),
        (
            "SET LOCAL XML OPTION content",
            set("xmloption", "content", true),
        ),
    ];
    run_table(&cases, |(sql, want)| {
        let got = c(sql);
        (got.class != *want || got.pin.is_some()).then(|| {
            format!(
                "{sql:?}: want {want:?}, got {:?} pin {:?}",
                got.class, got.pin
            )
        })
    });
}
