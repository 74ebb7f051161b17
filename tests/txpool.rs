//! Transaction pooling (`[pool] mode = "transaction"`) against a real
//! primary + streaming replica: many clients on few backend connections,
//! session state and prepared statements kept apart, pins, churn.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "txpool/asyncpg_wire.rs"]
mod asyncpg_wire;
#[path = "txpool/auto_prepare.rs"]
mod auto_prepare;
#[path = "txpool/modes.rs"]
mod modes;
#[path = "txpool/queue.rs"]
mod queue;
#[path = "txpool/raw.rs"]
mod raw;
#[path = "txpool/sequences.rs"]
mod sequences;
#[path = "txpool/sqlprep.rs"]
mod sqlprep;
mod support;
#[path = "txpool/tx_settings.rs"]
mod tx_settings;
#[path = "txpool/unpin.rs"]
mod unpin;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pgsplit::config::{Config, PoolMode};
use support::*;
use tokio_postgres::{Client, SimpleQueryMessage};

/// Routes a statement to the primary (pgsplit's comment hint).
const PRIMARY: &str = "/* pgsplit:primary */ ";

pub(crate) fn transaction_mode(max: usize) -> impl FnOnce(&mut Config) {
    move |c| {
        c.pool.mode = PoolMode::Transaction;
        c.pool.max_per_backend = max;
        c.pool.checkout_timeout = Duration::from_secs(30);
        c.listen.max_clients = 5000;
    }
}

async fn one(c: &Client, sql: &str) -> String {
    let rows = c.simple_query(sql).await.unwrap();
    rows.iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("").to_owned()),
            _ => None,
        })
        .unwrap()
}

/// Backend connections whose application_name is `app`, on each node.
async fn backend_conns(app: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for node in cluster().nodes() {
        let d = direct(node).await;
        let n: i64 = d
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .await
            .unwrap()
            .get(0);
        out.push(n);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_clients_share_ten_connections_per_backend() {
    const CLIENTS: usize = 2000;
    let p = proxy_with(transaction_mode(10)).await;
    let setup = p.client().await;
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS tp_accounts, tp_history;
             CREATE TABLE tp_accounts (aid int PRIMARY KEY, abalance int NOT NULL);
             INSERT INTO tp_accounts SELECT g, 0 FROM generate_series(1, 10000) g;
             CREATE TABLE tp_history (aid int, delta int, at timestamptz DEFAULT now());",
        )
        .await
        .unwrap();
    // Reads go to the replica: wait until it has the table.
    let replica = direct(&cluster().nodes()[1]).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            replica
                .query_one("SELECT count(*) FROM tp_accounts", &[])
                .await
                .is_ok_and(|r| r.get::<_, i64>(0) == 10000)
        })
        .await
    );

    // md5: tokio-postgres' SCRAM (PBKDF2, unoptimised in a test build)
    // would make connecting 2,000 clients the slow part.
    raw::Raw::connect(p.port).await;
    setup
        .batch_execute("GRANT ALL ON tp_accounts, tp_history TO md5user")
        .await
        .unwrap();
    let info = format!(
        "host=127.0.0.1 port={} user=md5user password={PASSWORD} dbname={DATABASE} \
         application_name=txload",
        p.port
    );
    // Connect everyone first, a hundred at a time.
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS / 100 {
        let batch = (0..100).map(|_| async {
            let (c, conn) = tokio_postgres::connect(&info, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            c
        });
        clients.extend(futures_util::future::join_all(batch).await);
    }
    let txs = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut tasks = Vec::new();
    for (i, c) in clients.into_iter().enumerate() {
        let (txs, errors) = (txs.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = c;
            let mut n = 0i32;
            while tokio::time::Instant::now() < deadline {
                n += 1;
                let aid = ((i as i32 * 7919 + n) % 10000) + 1;
                let r = async {
                    let t = c.transaction().await?;
                    t.execute(
                        "UPDATE tp_accounts SET abalance = abalance + $1 WHERE aid = $2",
                        &[&1i32, &aid],
                    )
                    .await?;
                    t.query_one("SELECT abalance FROM tp_accounts WHERE aid = $1", &[&aid])
                        .await?;
                    t.execute(
                        "INSERT INTO tp_history (aid, delta) VALUES ($1, $2)",
                        &[&aid, &1i32],
                    )
                    .await?;
                    t.commit().await?;
                    // An autocommit read, for the replica.
                    c.query_one("SELECT abalance FROM tp_accounts WHERE aid = $1", &[&aid])
                        .await?;
                    Ok::<_, tokio_postgres::Error>(())
                }
                .await;
                match r {
                    Ok(()) => txs.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        eprintln!("client {i}: {e}");
                        errors.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
            c
        }));
    }
    // Sample the backends while the load runs.
    let mut most = vec![0i64; cluster().nodes().len()];
    while tokio::time::Instant::now() < deadline {
        for (m, n) in most.iter_mut().zip(backend_conns("txload").await) {
            *m = (*m).max(n);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut kept = Vec::new();
    for t in tasks {
        kept.push(t.await.unwrap());
    }
    let (txs, errors) = (txs.load(Ordering::Relaxed), errors.load(Ordering::Relaxed));
    let committed: i64 = setup
        .query_one("SELECT count(*) FROM tp_history", &[])
        .await
        .unwrap()
        .get(0);
    eprintln!(
        "txpool load: {CLIENTS} clients, {txs} transactions in 10 s, {errors} errors, \
         {committed} history rows, most backend connections seen per node: {most:?}"
    );
    assert_eq!(errors, 0);
    assert!(txs >= CLIENTS as u64, "every client ran: {txs}");
    assert_eq!(committed as u64, txs);
    assert!(most.iter().all(|&n| n <= 10), "{most:?}");
    drop(kept);
    p.stop().await;
}

#[tokio::test]
async fn interleaved_search_path_and_application_name_stay_apart() {
    let p = proxy_with(transaction_mode(2)).await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        // A third set nothing, a third set at startup, a third with SET.
        let extra = if i % 3 == 1 {
            format!("application_name=start{i} options='-c search_path=s{i},public'")
        } else {
            String::new()
        };
        let c = p.client_with(&extra).await;
        tasks.push(tokio::spawn(async move {
            let want = match i % 3 {
                0 => ("\"$user\", public".to_owned(), String::new()),
                1 => (format!("s{i},public"), format!("start{i}")),
                _ => {
                    c.batch_execute(&format!(
                        "SET search_path = s{i}; SET application_name = 'set{i}'"
                    ))
                    .await
                    .unwrap();
                    (format!("s{i}"), format!("set{i}"))
                }
            };
            for round in 0..40 {
                let got = (
                    one(&c, "SHOW search_path").await,
                    one(&c, "SELECT current_setting('application_name')").await,
                );
                assert_eq!(got, want, "client {i} round {round}");
                // Extended protocol too, which may land on the replica.
                let row = c
                    .query_one("SELECT current_setting('search_path')", &[])
                    .await
                    .unwrap();
                assert_eq!(row.get::<_, String>(0), want.0, "client {i} round {round}");
                tokio::task::yield_now().await;
            }
            if i % 3 == 2 {
                // RESET goes back to the default, not to another client's value.
                c.batch_execute("RESET search_path").await.unwrap();
                assert_eq!(one(&c, "SHOW search_path").await, "\"$user\", public");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    p.stop().await;
}

#[tokio::test]
async fn same_statement_name_with_different_sql_on_one_connection() {
    let p = proxy_with(transaction_mode(1)).await;
    let a = p.client().await;
    let b = p.client().await;
    // Raw clients, both naming their statement "s1".
    let mut ra = raw::Raw::connect(p.port).await;
    let mut rb = raw::Raw::connect(p.port).await;
    let r = ra
        .send(&[raw::parse("s1", "SELECT 'a' || 1"), raw::sync()])
        .await;
    assert!(r.errors.is_empty(), "{r:?}");
    let r = rb
        .send(&[raw::parse("s1", "SELECT 'b' || 2"), raw::sync()])
        .await;
    assert!(r.errors.is_empty(), "{r:?}");
    for _ in 0..10 {
        assert_eq!(ra.send(&[raw::run("s1"), raw::sync()]).await.rows, ["a1"]);
        assert_eq!(rb.send(&[raw::run("s1"), raw::sync()]).await.rows, ["b2"]);
    }
    // Close is honoured for the client that sent it only.
    let r = ra.send(&[raw::close("s1"), raw::sync()]).await;
    assert!(r.errors.is_empty(), "{r:?}");
    let r = ra.send(&[raw::run("s1"), raw::sync()]).await;
    assert_eq!(r.errors, ["26000"]);
    assert_eq!(rb.send(&[raw::run("s1"), raw::sync()]).await.rows, ["b2"]);
    // psycopg deallocates by SQL, then prepares the name again.
    let r = rb.send(&[raw::query("DEALLOCATE s1")]).await;
    assert!(r.errors.is_empty(), "{r:?}");
    let r = rb.send(&[raw::run("s1"), raw::sync()]).await;
    assert_eq!(r.errors, ["26000"]);
    let r = rb
        .send(&[
            raw::parse("s1", "SELECT 'b' || 3"),
            raw::run("s1"),
            raw::sync(),
        ])
        .await;
    assert_eq!((r.rows, r.errors), (vec!["b3".to_owned()], vec![]));
    // The same text under the same name in both: prepared once per connection.
    ra.send(&[raw::parse("s1", "SELECT 'same'"), raw::sync()])
        .await;
    rb.send(&[raw::query("DEALLOCATE s1")]).await;
    rb.send(&[raw::parse("s1", "SELECT 'same'"), raw::sync()])
        .await;
    assert_eq!(ra.send(&[raw::run("s1"), raw::sync()]).await.rows, ["same"]);
    assert_eq!(rb.send(&[raw::run("s1"), raw::sync()]).await.rows, ["same"]);
    // SQL-level PREPARE with the same name in both sessions.
    a.batch_execute("PREPARE p AS SELECT 'from a'")
        .await
        .unwrap();
    b.batch_execute("PREPARE p AS SELECT 'from b'")
        .await
        .unwrap();
    for _ in 0..5 {
        assert_eq!(one(&a, "EXECUTE p").await, "from a");
        assert_eq!(one(&b, "EXECUTE p").await, "from b");
    }
    a.batch_execute("DEALLOCATE p").await.unwrap();
    let e = a.simple_query("EXECUTE p").await.unwrap_err();
    assert_eq!(sqlstate(&e), "26000");
    assert_eq!(one(&b, "EXECUTE p").await, "from b");
    // A client that never prepared p does not reach b's.
    let c = p.client().await;
    let e = c.simple_query("EXECUTE p").await.unwrap_err();
    assert_eq!(sqlstate(&e), "26000");
    p.stop().await;
}

#[tokio::test]
async fn always_prepared_statements_on_few_shared_connections() {
    let p = proxy_with(transaction_mode(3)).await;
    let mut tasks = Vec::new();
    for i in 0..40i32 {
        let c = p.client().await;
        tasks.push(tokio::spawn(async move {
            // asyncpg style: prepare once, run many times.
            let add = c.prepare("SELECT $1::int4 + $2::int4").await.unwrap();
            let tag = c
                .prepare(&format!("SELECT 'c{i}:' || $1::text"))
                .await
                .unwrap();
            for n in 0..25i32 {
                let s: i32 = c.query_one(&add, &[&n, &i]).await.unwrap().get(0);
                assert_eq!(s, n + i);
                let t: String = c.query_one(&tag, &[&n.to_string()]).await.unwrap().get(0);
                assert_eq!(t, format!("c{i}:{n}"));
                tokio::task::yield_now().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    p.stop().await;
}

/// After a schema change, a prepared `SELECT *` fails with 0A000 ("cached
/// plan must not change result type"), as on a direct connection; the
/// driver prepares it again (PgJDBC does), and that must reach the server
/// even though the connection already has a statement with the same text.
#[tokio::test]
async fn a_statement_prepared_again_after_a_schema_change_sees_the_new_columns() {
    let p = proxy_with(transaction_mode(1)).await;
    let c = p.client().await;
    c.batch_execute(
        "DROP TABLE IF EXISTS tp_ddl;
         CREATE TABLE tp_ddl (x int);
         INSERT INTO tp_ddl VALUES (1)",
    )
    .await
    .unwrap();
    let sql = format!("{PRIMARY}SELECT * FROM tp_ddl");
    let before = c.prepare(&sql).await.unwrap();
    assert_eq!(c.query_one(&before, &[]).await.unwrap().len(), 1);
    c.batch_execute("ALTER TABLE tp_ddl ADD COLUMN y int")
        .await
        .unwrap();
    let e = c.query_one(&before, &[]).await.unwrap_err();
    assert_eq!(sqlstate(&e), "0A000", "{e}");
    let again = c.prepare(&sql).await.unwrap();
    let row = c
        .query_one(&again, &[])
        .await
        .expect("the statement prepared again still had the old plan");
    assert_eq!(row.len(), 2);
    p.stop().await;
}

#[tokio::test]
async fn statement_cache_per_connection_is_bounded() {
    let p = proxy_with(transaction_mode(1)).await;
    let c = p.client().await;
    for i in 0..300 {
        let s = c.prepare(&format!("SELECT {i}")).await.unwrap();
        let v: i32 = c.query_one(&s, &[]).await.unwrap().get(0);
        assert_eq!(v, i);
    }
    let n: i64 = c
        .query_one("SELECT count(*) FROM pg_prepared_statements", &[])
        .await
        .unwrap()
        .get(0);
    assert!(n <= 256 + 2, "{n} statements on the connection");
    p.stop().await;
}

#[tokio::test]
async fn killed_client_mid_transaction_leaves_a_rolled_back_reusable_connection() {
    let p = proxy_with(transaction_mode(1)).await;
    let setup = p.client().await;
    setup
        .batch_execute("DROP TABLE IF EXISTS tp_killed; CREATE TABLE tp_killed (id int)")
        .await
        .unwrap();
    drop(setup);
    let a = p.client().await;
    a.batch_execute("BEGIN; INSERT INTO tp_killed VALUES (1)")
        .await
        .unwrap();
    let pid_a = one(&a, "SELECT pg_backend_pid()").await;
    drop(a); // the client goes away inside its transaction
    let b = p.client().await;
    let row = b
        .query_one(
            "/* pgsplit:primary */ SELECT count(*), pg_backend_pid()::text FROM tp_killed",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 0, "the insert was rolled back");
    assert_eq!(
        row.get::<_, String>(1),
        pid_a,
        "the same connection serves again"
    );
    p.stop().await;
}

#[tokio::test]
async fn pins_keep_one_connection_and_are_counted() {
    let p = proxy_with(transaction_mode(2)).await;
    let c = p.client().await;
    c.batch_execute("CREATE TEMP TABLE tp_tmp (v int)")
        .await
        .unwrap();
    // Other clients keep the pool busy in between.
    let others = p.client().await;
    for v in 0..10 {
        others.batch_execute("SELECT 1").await.unwrap();
        c.execute("INSERT INTO tp_tmp VALUES ($1)", &[&v])
            .await
            .unwrap();
    }
    let n: i64 = c
        .query_one("SELECT count(*) FROM tp_tmp", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 10);
    let metrics = p.proxy.as_ref().unwrap().metrics.encode();
    assert!(
        metrics.contains("pgsplit_pinned_sessions_total{reason=\"temp_table\"} 1"),
        "{metrics}"
    );
    // DISCARD ALL ends the pin; the session goes on, pooled again.
    c.batch_execute("DISCARD ALL").await.unwrap();
    assert_eq!(one(&c, "SELECT 2").await, "2");
    p.stop().await;
}

#[tokio::test]
async fn backend_connections_stay_few_after_churn() {
    let p = proxy_with(transaction_mode(2)).await;
    for _ in 0..50 {
        let c = p.client_with("application_name=churn").await;
        c.batch_execute("SELECT 1").await.unwrap();
    }
    let seen = backend_conns("churn").await;
    assert!(seen.iter().all(|&n| n <= 2), "{seen:?}");
    p.stop().await;
}
