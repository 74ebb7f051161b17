//! COPY FROM STDIN whose data follows the query at once, before the
//! server's CopyInResponse (asyncpg's copy_records_to_table does so), in
//! both pooling modes.

use std::time::Duration;

use pgsplit::config::PoolMode;

use crate::raw::{self, Raw};
use crate::support::*;

fn copy_data(rows: &str) -> Vec<u8> {
    let mut m = vec![b'd'];
    m.extend_from_slice(&((rows.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(rows.as_bytes());
    m
}

const COPY_DONE: [u8; 5] = [b'c', 0, 0, 0, 4];

#[tokio::test]
async fn copy_data_sent_before_copy_in_response_arrives() {
    ensure_md5_user(cluster());
    let setup_proxy = proxy().await;
    let setup = setup_proxy.client().await;
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS tp_copy_early; CREATE TABLE tp_copy_early (v int);
             GRANT ALL ON tp_copy_early TO md5user",
        )
        .await
        .unwrap();
    for mode in [PoolMode::Session, PoolMode::Transaction] {
        let p = proxy_with(|c| {
            crate::transaction_mode(1)(c);
            c.pool.mode = mode;
        })
        .await;
        let mut c = Raw::connect(p.port).await;
        // Query, data and CopyDone in one write: nothing waits for 'G'.
        let msgs = [
            raw::query("COPY tp_copy_early FROM STDIN"),
            copy_data("1\n2\n"),
            copy_data("3\n"),
            COPY_DONE.to_vec(),
        ];
        let r = tokio::time::timeout(Duration::from_secs(10), c.send(&msgs))
            .await
            .unwrap_or_else(|_| panic!("{mode:?}: COPY never finished (data dropped)"));
        assert!(r.errors.is_empty(), "{mode:?}: {r:?}");
        let r = c
            .send(&[raw::query(
                "SELECT count(*) FROM tp_copy_early /* pgsplit:primary */",
            )])
            .await;
        assert!(r.errors.is_empty(), "{mode:?}: {r:?}");
        p.stop().await;
    }
    let n: i64 = setup
        .query_one("SELECT count(*) FROM tp_copy_early", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 6);
    setup_proxy.stop().await;
}

/// asyncpg prepares with Parse, Describe, Flush (no Sync), then may send a
/// simple Query that goes to another backend (its COPY after preparing the
/// introspection SELECT on the replica).
#[tokio::test]
async fn query_after_a_batch_left_open_by_flush() {
    let query = raw::query("/* pgsplit:primary */ SELECT 'after'");
    after_a_batch_left_open_by_flush(query, b"TDCZ").await;
}

/// The same with a FunctionCall (the fast-path interface libpq's large
/// objects use): it goes to the primary.
#[tokio::test]
async fn function_call_after_a_batch_left_open_by_flush() {
    // pg_backend_pid(): no argument formats, no arguments, text result.
    let mut call = 2026u32.to_be_bytes().to_vec();
    call.extend([0, 0, 0, 0, 0, 0]);
    after_a_batch_left_open_by_flush(crate::support::raw::frame(b'F', &call), b"VZ").await;
}

/// A statement prepared on the replica with Parse, Describe, Flush; then
/// `request`, for the primary, is answered (message tags `tags`) without
/// waiting for a Sync that never comes, and the statement runs after it;
/// in both pooling modes.
async fn after_a_batch_left_open_by_flush(request: Vec<u8>, tags: &[u8]) {
    ensure_md5_user(cluster());
    for mode in [PoolMode::Session, PoolMode::Transaction] {
        let p = proxy_with(|c| {
            crate::transaction_mode(2)(c);
            c.pool.mode = mode;
        })
        .await;
        let mut c = Raw::connect(p.port).await;
        c.write(&[
            raw::parse("st1", "/* pgsplit:replica */ SELECT 41 + 1"),
            raw::describe("st1"),
            raw::flush(),
        ])
        .await;
        assert_eq!(c.read_until(b'T').await, b"1tT", "{mode:?}");
        c.write(std::slice::from_ref(&request)).await;
        let got = tokio::time::timeout(Duration::from_secs(10), c.read_until(b'Z'))
            .await
            .unwrap_or_else(|_| panic!("{mode:?}: waits for a Sync that never comes"));
        assert_eq!(got, tags, "{mode:?}");
        let r = c.send(&[raw::run("st1"), raw::sync()]).await;
        assert_eq!(
            (r.rows, r.errors),
            (vec!["42".to_owned()], vec![]),
            "{mode:?}"
        );
        p.stop().await;
    }
}
