//! Classification cost on a realistic statement mix: cached, uncached, and
//! sqlparser's bare parse for comparison.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use pgsplit::classify::{classify, ClassifyCache, FunctionTable};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

const MIX: &[&str] = &[
    // pgbench (tpcb-like)
    "BEGIN;",
    "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;",
    "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
    "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;",
    "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);",
    "END;",
    // ORM-style reads
    "SELECT \"users\".\"id\", \"users\".\"name\", \"users\".\"email\" FROM \"users\" WHERE \"users\".\"id\" = $1 LIMIT 1",
    "SELECT o.id, o.total, u.name FROM orders o INNER JOIN users u ON u.id = o.user_id WHERE o.status = $1 ORDER BY o.created_at DESC LIMIT 50",
    "SELECT u.id, count(o.id) AS n, coalesce(sum(o.total), 0) FROM users u LEFT JOIN orders o ON o.user_id = u.id WHERE u.active GROUP BY u.id HAVING count(o.id) > $1",
    "WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '1 day') SELECT r.id, i.title FROM recent r JOIN order_items oi ON oi.order_id = r.id JOIN items i ON i.id = oi.item_id",
    "/* controller='users',action='show' */ SELECT * FROM users WHERE id = $1",
    // writes and session traffic
    "INSERT INTO orders (user_id, status, total) VALUES ($1, $2, $3) RETURNING id",
    "UPDATE users SET name = $1 WHERE id = $2",
    "SET search_path TO app, public",
    "SET application_name = 'web'",
    "COMMIT",
    "SELECT nextval('ticket_seq')",
];

fn bench(c: &mut Criterion) {
    let functions = FunctionTable::builtin();
    let dialect = PostgreSqlDialect {};

    c.bench_function("classify_uncached_mix", |b| {
        b.iter(|| {
            for sql in MIX {
                black_box(classify(black_box(sql), &functions));
            }
        })
    });

    let mut cache = ClassifyCache::new(1024);
    c.bench_function("classify_cached_mix", |b| {
        b.iter(|| {
            for sql in MIX {
                black_box(cache.classify(black_box(sql), &functions));
            }
        })
    });

    c.bench_function("sqlparser_parse_mix", |b| {
        b.iter(|| {
            for sql in MIX {
                let _ = black_box(Parser::parse_sql(&dialect, black_box(sql)));
            }
        })
    });

    // pgbench -S over the simple protocol: the literal differs on every
    // call, so each text is new to a cache keyed by SQL text.
    let mut aid = 0u32;
    c.bench_function("classify_pgbench_select_new_literal_each_time", |b| {
        b.iter(|| {
            aid = aid.wrapping_add(7919);
            let sql = format!("SELECT abalance FROM pgbench_accounts WHERE aid = {aid};");
            black_box(cache.classify(black_box(&sql), &functions))
        })
    });

    let read = MIX[9];
    c.bench_function("classify_uncached_join_read", |b| {
        b.iter(|| black_box(classify(black_box(read), &functions)))
    });
    c.bench_function("sqlparser_parse_join_read", |b| {
        b.iter(|| black_box(Parser::parse_sql(&dialect, black_box(read))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
