use super::super::{Class, Hint};
use super::{c, run_table};

/// Statements that must be reads with the built-in function table.
const READS: &[&str] = &[
    "SELECT 1",
    "select 1;",
    "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
    "SELECT * FROM users WHERE id = $1",
    "SELECT u.id, o.total FROM users u JOIN orders o ON o.user_id = u.id WHERE u.id = 1",
    "SELECT * FROM users u LEFT JOIN orders o ON o.user_id = u.id ORDER BY u.id LIMIT 10 OFFSET 5",
    "SELECT count(*), sum(total), avg(total), min(total), max(total) FROM orders",
    "SELECT user_id, count(*) FROM orders GROUP BY user_id HAVING count(*) > 1",
    "SELECT DISTINCT ON (user_id) * FROM orders ORDER BY user_id, created_at DESC",
    "WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '1 day') SELECT * FROM recent",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT * FROM r",
    "SELECT row_number() OVER (PARTITION BY user_id ORDER BY created_at) FROM orders",
    "SELECT lag(total) OVER w, lead(total) OVER w FROM orders WINDOW w AS (ORDER BY id)",
    "SELECT * FROM generate_series(1, 10) g",
    "SELECT * FROM pg_catalog.generate_series(1, 3)",
    "SELECT * FROM unnest(ARRAY[1, 2, 3]) AS x(v)",
    "SELECT * FROM users u, LATERAL (SELECT * FROM orders o WHERE o.user_id = u.id LIMIT 1) o",
    "SELECT * FROM users u CROSS JOIN LATERAL jsonb_array_elements(u.tags) t",
    "SELECT data->>'name', data->'a'->'b', data #>> '{a,b}' FROM docs",
    "SELECT jsonb_build_object('a', 1), to_jsonb(u) FROM users u",
    "SELECT json_agg(u) FROM users u",
    "SELECT * FROM docs WHERE data @> '{\"a\": 1}'",
    "SELECT 1 UNION SELECT 2 EXCEPT SELECT 3",
    "SELECT * FROM users WHERE id IN (SELECT user_id FROM orders)",
    "SELECT * FROM users WHERE EXISTS (SELECT 1 FROM orders WHERE orders.user_id = users.id)",
    "SELECT (SELECT max(id) FROM orders) AS m",
    "SELECT lower(name), upper(name), length(name), substr(name, 1, 2) FROM users",
    "SELECT coalesce(name, 'x'), nullif(a, b), greatest(1, 2), least(1, 2) FROM t",
    "SELECT abs(-1), round(1.5), ceil(1.2), floor(1.2), mod(5, 2)",
    "SELECT date_trunc('day', now()), to_char(now(), 'YYYY'), extract(year FROM now())",
    "SELECT current_timestamp, current_date, localtimestamp, current_user, session_user",
    "SELECT current_setting('search_path'), version(), pg_is_in_recovery()",
    "SELECT inet_server_port(), pg_backend_pid(), current_database()",
    "SELECT has_table_privilege('users', 'SELECT')",
    "SELECT random(), clock_timestamp(), gen_random_uuid()",
    "SELECT pg_sleep(0)",
    "SELECT pg_size_pretty(pg_total_relation_size('users'))",
    "SELECT string_agg(name, ',') FROM users",
    "SELECT array_agg(id ORDER BY id) FROM users",
    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY total) FROM orders",
    "SELECT count(*) FILTER (WHERE total > 10) FROM orders",
    "SELECT id::text, '1'::int, CAST(id AS bigint) FROM users",
    "SELECT CASE WHEN id > 1 THEN 'a' ELSE 'b' END FROM users",
    "SELECT * FROM users WHERE name LIKE 'a%' OR name ILIKE 'B%'",
    "SELECT * FROM users WHERE id = ANY($1)",
    "SELECT * FROM users WHERE id BETWEEN 1 AND 10 AND name IS NOT NULL",
    "VALUES (1, 'a'), (2, 'b')",
    "TABLE users",
    "table users order by id limit 1",
    "SHOW search_path",
    "SHOW ALL",
    "SHOW TRANSACTION ISOLATION LEVEL",
    "EXPLAIN SELECT * FROM users",
    "EXPLAIN INSERT INTO t VALUES (1)",
    "EXPLAIN UPDATE t SET a = 1",
    "EXPLAIN (FORMAT JSON) SELECT 1",
    "EXPLAIN ANALYZE SELECT * FROM users",
    "EXPLAIN (ANALYZE, BUFFERS) SELECT 1",
    "EXPLAIN (ANALYZE false) DELETE FROM t",
    "COPY users TO STDOUT",
    "COPY (SELECT * FROM users) TO STDOUT WITH (FORMAT csv)",
    "DECLARE c CURSOR FOR SELECT * FROM users",
    "FETCH 10 FROM c",
    "FETCH NEXT FROM c",
    "CLOSE c",
    "CLOSE ALL",
    "SELECT pg_catalog.now()",
    "SELECT PG_CATALOG.LOWER('A')",
    "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p','') AND n.nspname <> 'pg_catalog' AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 1,2",
    "SELECT pg_catalog.pg_get_userbyid(c.relowner) AS owner, pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid",
    "SELECT pg_catalog.pg_get_indexdef(i.indexrelid, 0, true), pg_catalog.pg_get_constraintdef(con.oid, true) FROM pg_catalog.pg_index i, pg_catalog.pg_constraint con",
    "SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relname OPERATOR(pg_catalog.~) '^(users)$' COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 2, 3",
    "SELECT pg_catalog.obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c",
    "SELECT * FROM users WHERE created_at > now() - '1 day'::interval",
    "SELECT ARRAY[1,2] || ARRAY[3], (ARRAY[1,2])[1]",
    "SELECT 1 WHERE 'a' ~ '^a' AND 'b' !~* 'c'",
    "SELECT * FROM users ORDER BY id FETCH FIRST 5 ROWS ONLY",
    "SELECT * FROM users WHERE (id, name) = (1, 'a')",
    "SELECT ROW(1, 'a')",
    "SELECT 'a' || 'b', E'x\\ny', $$dollar$$",
    "SELECT interval '1 day' + date '2024-01-01'",
    "SELECT * FROM users TABLESAMPLE SYSTEM (10)",
    "  -- leading comment\n SELECT 1",
    "/* c1 */ /* c2 */ SELECT 1",
    "SELECT 1; SELECT 2",
    "",
    "   ",
    ";",
    "-- only a comment",
    "/* only a comment */",
];

#[test]
fn reads_table() {
    run_table(READS, |sql| {
        let got = c(sql);
        (got.class != Class::Read || got.pin.is_some())
            .then(|| format!("{sql:?}: want Read, got {:?} pin {:?}", got.class, got.pin))
    });
}

#[test]
fn hints() {
    let cases: &[(&str, Option<Hint>, bool)] = &[
        ("/* pgsplit:primary */ SELECT 1", Some(Hint::Primary), true),
        ("/* pgsplit:replica */ SELECT 1", Some(Hint::Replica), true),
        ("/*pgsplit:REPLICA*/SELECT 1", Some(Hint::Replica), true),
        ("-- pgsplit:primary\nSELECT 1", Some(Hint::Primary), true),
        (
            "/* app=x */ /* pgsplit:replica */ SELECT 1",
            Some(Hint::Replica),
            true,
        ),
        (
            "/* app=x, pgsplit:replica, route=y */ SELECT 1",
            Some(Hint::Replica),
            true,
        ),
        (
            "/* pgsplit:replica */ /* pgsplit:primary */ SELECT 1",
            Some(Hint::Primary),
            true,
        ),
        (
            "/* outer /* nested */ pgsplit:primary */ SELECT 1",
            Some(Hint::Primary),
            true,
        ),
        ("SELECT 1 /* pgsplit:primary */", None, true),
        ("SELECT '/* pgsplit:primary */'", None, true),
        (
            "/* pgsplit:replica */ INSERT INTO t VALUES (1)",
            Some(Hint::Replica),
            false,
        ),
        ("/* pgsplit:primary */", Some(Hint::Primary), true),
        ("/* pgsplit:replicas */ SELECT 1", Some(Hint::Replica), true),
    ];
    run_table(cases, |(sql, hint, read)| {
        let got = c(sql);
        (got.hint != *hint || got.class.is_read() != *read).then(|| {
            format!(
                "{sql:?}: want {hint:?}/read={read}, got {:?}/{:?}",
                got.hint, got.class
            )
        })
    });
}

#[test]
fn multi_statement_parts() {
    let got = c("SET x.y = 1; INSERT INTO t VALUES (1); SELECT 1");
    assert_eq!(got.parts.len(), 3);
    assert!(got.parts[0].is_session());
    assert!(got.parts[1].is_write());
    assert!(got.parts[2].is_read());
    assert!(c("SELECT 1").parts.is_empty());
    assert_eq!(
        c("SELECT 1; SELECT 2").parts,
        vec![Class::Read, Class::Read]
    );
}
