//! The unnamed statement kept on the server once it repeats
//! (`[pool] auto_prepare`), in both pooling modes: it runs right, it is
//! parsed once per connection, and whatever the client's `""` means
//! stays true (later Binds, Close, a simple Query dropping it, a result
//! that changed).

use pgsplit::config::PoolMode;
use tokio_postgres::types::Type;

use crate::raw::{self, Raw};
use crate::support::*;

/// One server connection per backend, so what a client kept is on the
/// connection its next read runs on.
async fn proxy_in(mode: PoolMode, auto_prepare: bool) -> TestProxy {
    proxy_with(|c| {
        crate::transaction_mode(1)(c);
        c.pool.mode = mode;
        c.pool.auto_prepare = auto_prepare;
    })
    .await
}

const MODES: [PoolMode; 2] = [PoolMode::Session, PoolMode::Transaction];

/// What one request answered: the first column of each row, then the
/// SQLSTATEs of its errors.
#[track_caller]
fn expect(r: raw::Reply, rows: &[&str], errors: &[&str], what: String) {
    fn strs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    assert_eq!(
        (strs(&r.rows), strs(&r.errors)),
        (rows.to_vec(), errors.to_vec()),
        "{what}"
    );
}

#[tokio::test]
async fn a_repeated_unnamed_statement_is_parsed_once_per_connection() {
    const SQL: &str = "SELECT $1::int + 1 AS next";
    for (mode, on) in MODES.into_iter().flat_map(|m| [(m, true), (m, false)]) {
        let p = proxy_in(mode, on).await;
        let c = p.client().await;
        for i in 0..6i32 {
            // Parse "", Bind, Execute, Sync: a new unnamed statement each time.
            let rows = c.query_typed(SQL, &[(&i, Type::INT4)]).await.unwrap();
            assert_eq!(rows[0].get::<_, i32>(0), i + 1, "{mode:?}");
        }
        // The statement on the replica connection the reads ran on: kept
        // the second time, run from then on without being parsed again.
        let kept = c
            .query(
                "SELECT coalesce(sum(generic_plans + custom_plans), -1)::int8 \
                 FROM pg_prepared_statements WHERE statement = $1",
                &[&SQL],
            )
            .await
            .unwrap();
        let runs: i64 = kept[0].get(0);
        let prepared = metric(&p, "pgsplit_auto_prepared_total").await;
        let reused = metric(&p, "pgsplit_auto_prepare_reused_total").await;
        if on {
            assert_eq!(runs, 5, "{mode:?}: runs of the kept statement");
            assert_eq!((prepared, reused), (1, 4), "{mode:?}");
        } else {
            assert_eq!(runs, -1, "{mode:?}: auto_prepare off keeps nothing");
            assert_eq!((prepared, reused), (0, 0), "{mode:?}");
        }
        p.stop().await;
    }
}

#[tokio::test]
async fn kept_statements_that_write_and_fail_keep_their_answers() {
    let setup = direct(cluster().primary()).await;
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS ap_write; CREATE TABLE ap_write (id int PRIMARY KEY, v text)",
        )
        .await
        .unwrap();
    for mode in MODES {
        setup.batch_execute("TRUNCATE ap_write").await.unwrap();
        let p = proxy_in(mode, true).await;
        let c = p.client().await;
        let insert = "INSERT INTO ap_write VALUES ($1, $2)";
        for id in [1i32, 2, 2, 3, 1, 4] {
            let v = format!("v{id}");
            let r = c
                .query_typed(insert, &[(&id, Type::INT4), (&v, Type::TEXT)])
                .await;
            let dup = [2, 1].contains(&id) && r.is_err();
            match r {
                Ok(_) => {}
                Err(e) if dup => assert_eq!(sqlstate(&e), "23505", "{mode:?}"),
                Err(e) => panic!("{mode:?}: insert {id}: {e}"),
            }
        }
        let ids: Vec<i32> = setup
            .query("SELECT id FROM ap_write ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(ids, vec![1, 2, 3, 4], "{mode:?}");
        p.stop().await;
    }
}

/// A column added to the table: a kept `SELECT *` would fail ("cached
/// plan must not change result type"), so it is not kept. A kept
/// statement whose result type changes anyway (a selected column's type
/// altered) fails once on each connection that kept it, then runs.
#[tokio::test]
async fn a_changed_result_fails_a_kept_statement_at_most_once() {
    let setup = direct(cluster().primary()).await;
    let p = proxy_in(PoolMode::Session, true).await;
    let c = p.client().await;
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS ap_shape;
             CREATE TABLE ap_shape (id int PRIMARY KEY, v int);
             INSERT INTO ap_shape VALUES (1, 10)",
        )
        .await
        .unwrap();
    replica_caught_up().await;
    let star = "SELECT * FROM ap_shape WHERE id = $1";
    let one = "SELECT v FROM ap_shape WHERE id = $1";
    for _ in 0..3 {
        for sql in [star, one] {
            c.query_typed(sql, &[(&1i32, Type::INT4)]).await.unwrap();
        }
    }
    setup
        .batch_execute("ALTER TABLE ap_shape ADD COLUMN w text, ALTER COLUMN v TYPE int8")
        .await
        .unwrap();
    replica_caught_up().await;
    let rows = c.query_typed(star, &[(&1i32, Type::INT4)]).await.unwrap();
    assert_eq!(rows[0].len(), 3, "SELECT * sees the new column");
    // Once per connection that kept it: reads may have run on the primary
    // too while the proxy had not yet seen the replica healthy.
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        match c.query_typed(one, &[(&1i32, Type::INT4)]).await {
            Ok(rows) => {
                assert_eq!(rows[0].get::<_, i64>(0), 10);
                outcomes.push(true);
            }
            Err(e) => {
                assert_eq!(sqlstate(&e), "0A000", "{e}");
                outcomes.push(false);
            }
        }
    }
    let failures = outcomes.iter().filter(|ok| !**ok).count();
    assert!(failures <= 2 && outcomes[3], "{outcomes:?}");
    p.stop().await;
}

/// What the client's `""` is after a batch kept it: bound in a later
/// batch, closed, or dropped by a simple Query (the server's unnamed
/// statement then does not exist, and never runs in its place).
#[tokio::test]
async fn the_unnamed_statement_means_what_the_client_last_made_it() {
    ensure_md5_user(cluster());
    let sql = "SELECT 'kept'::text";
    for mode in MODES {
        let p = proxy_in(mode, true).await;
        let mut c = Raw::connect(p.port).await;
        for _ in 0..3 {
            let r = c.send(&[raw::parse("", sql), raw::sync()]).await;
            assert!(r.errors.is_empty(), "{mode:?}: {:?}", r.errors);
        }
        let r = c.send(&[raw::run(""), raw::sync()]).await;
        expect(r, &["kept"], &[], format!("{mode:?}"));
        let r = c
            .send(&[raw::parse("", sql), raw::run(""), raw::sync()])
            .await;
        expect(r, &["kept"], &[], format!("{mode:?}"));
        let r = c.send(&[raw::close(""), raw::run(""), raw::sync()]).await;
        expect(r, &[], &["26000"], format!("{mode:?}: closed"));
        c.send(&[raw::parse("", sql), raw::sync()]).await;
        let r = c.send(&[raw::query("SELECT 'simple'")]).await;
        assert_eq!(r.rows, vec!["simple".to_owned()], "{mode:?}");
        let r = c.send(&[raw::run(""), raw::sync()]).await;
        expect(
            r,
            &[],
            &["26000"],
            format!("{mode:?}: dropped by the Query"),
        );
        p.stop().await;
    }
}

/// In a failed transaction the server refuses a Parse (25P02): a kept
/// statement's Parse still goes as it came, so the client sees the error
/// at its Parse, not a ParseComplete the server would not have sent.
#[tokio::test]
async fn a_parse_in_a_failed_transaction_fails_as_it_would_on_the_server() {
    ensure_md5_user(cluster());
    let sql = "SELECT 'kept'::text";
    for mode in MODES {
        let p = proxy_in(mode, true).await;
        let mut c = Raw::connect(p.port).await;
        c.send(&[raw::query("BEGIN")]).await;
        for _ in 0..3 {
            let r = c
                .send(&[raw::parse("", sql), raw::run(""), raw::sync()])
                .await;
            expect(r, &["kept"], &[], format!("{mode:?}"));
        }
        let r = c.send(&[raw::query("SELECT 1/0")]).await;
        assert_eq!(r.errors, vec!["22012".to_owned()], "{mode:?}");
        c.write(&[raw::parse("", sql), raw::run(""), raw::sync()])
            .await;
        assert_eq!(c.read_until(b'Z').await, b"EZ", "{mode:?}");
        let r = c.send(&[raw::query("ROLLBACK")]).await;
        assert!(r.errors.is_empty(), "{mode:?}: {:?}", r.errors);
        let r = c
            .send(&[raw::parse("", sql), raw::run(""), raw::sync()])
            .await;
        expect(r, &["kept"], &[], format!("{mode:?}"));
        p.stop().await;
    }
}

/// Found in review: what the client's `""` is stays exact when the batch
/// that changes it keeps nothing, when a text is parsed under a name and
/// unnamed in one batch, and after an Execute error (the server keeps the
/// unnamed statement).
#[tokio::test]
async fn the_unnamed_statement_outlives_errors_and_follows_every_parse() {
    ensure_md5_user(cluster());
    let setup = direct(cluster().primary()).await;
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS ap_div; CREATE TABLE ap_div (v int); INSERT INTO ap_div VALUES (1);
             GRANT SELECT ON ap_div TO PUBLIC",
        )
        .await
        .unwrap();
    let kept = "SELECT 'kept'::text";
    // Not kept (a '*'), described without being bound in its batch.
    let other = "SELECT 'other'::text AS o, * FROM (SELECT 1) AS x";
    let div = "/* pgsplit:primary */ SELECT (10 / v)::text FROM ap_div";
    for mode in MODES {
        let p = proxy_in(mode, true).await;
        let mut c = Raw::connect(p.port).await;
        for _ in 0..3 {
            c.send(&[raw::parse("", kept), raw::run(""), raw::sync()])
                .await;
        }
        c.send(&[raw::parse("", other), raw::describe(""), raw::sync()])
            .await;
        let r = c.send(&[raw::run(""), raw::sync()]).await;
        expect(r, &["other"], &[], format!("{mode:?}"));

        // Parsed under a name and unnamed in one batch, before it is kept.
        let t = "SELECT 'twice'::text";
        c.send(&[raw::parse("", t), raw::sync()]).await;
        let r = c
            .send(&[
                raw::parse("tw", t),
                raw::run("tw"),
                raw::parse("", t),
                raw::run(""),
                raw::sync(),
            ])
            .await;
        expect(r, &["twice", "twice"], &[], format!("{mode:?}"));

        // Kept, then failing at Execute: Bound again, it runs.
        for _ in 0..3 {
            let r = c
                .send(&[raw::parse("", div), raw::run(""), raw::sync()])
                .await;
            expect(r, &["10"], &[], format!("{mode:?}"));
        }
        setup
            .batch_execute("UPDATE ap_div SET v = 0")
            .await
            .unwrap();
        let r = c
            .send(&[raw::parse("", div), raw::run(""), raw::sync()])
            .await;
        assert_eq!(r.errors, vec!["22012".to_owned()], "{mode:?}");
        setup
            .batch_execute("UPDATE ap_div SET v = 2")
            .await
            .unwrap();
        let r = c.send(&[raw::run(""), raw::sync()]).await;
        expect(r, &["5"], &[], format!("{mode:?}"));
        setup
            .batch_execute("UPDATE ap_div SET v = 1")
            .await
            .unwrap();
        p.stop().await;
    }
}
