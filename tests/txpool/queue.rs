//! The pool's queue and lifecycle with one connection per backend: clients
//! waiting for it are served in arrival order, a client that gives up
//! waiting takes nothing with it, a connection that dies lets the next
//! waiter open a new one, and connections are closed after `idle_timeout`
//! and rotated after `server_lifetime`.

use std::time::Duration;

use tokio_postgres::Client;

use super::{one, transaction_mode, PRIMARY};
use crate::support::*;

/// Waits until `n` clients queue for a connection.
async fn until_waiting(p: &TestProxy, n: u64) {
    assert!(
        eventually(Duration::from_secs(10), || async {
            metric(p, "pgsplit_pool_waiting{").await == n
        })
        .await,
        "{n} clients never queued"
    );
}

/// The primary's backend pid serving `c`'s next statement.
async fn pid_on_primary(c: &Client) -> String {
    one(c, &format!("{PRIMARY}SELECT pg_backend_pid()")).await
}

/// A client holding the primary's only connection in an open transaction.
async fn holder(p: &TestProxy) -> (Client, String) {
    let c = p.client().await;
    c.batch_execute("BEGIN").await.unwrap();
    let pid = pid_on_primary(&c).await;
    (c, pid)
}

#[tokio::test]
async fn waiters_are_served_in_arrival_order() {
    let p = proxy_with(transaction_mode(1)).await;
    let seq = "tp_queue_order";
    p.client()
        .await
        .batch_execute(&format!(
            "DROP SEQUENCE IF EXISTS {seq}; CREATE SEQUENCE {seq}"
        ))
        .await
        .unwrap();
    // (Connected first: a session's start takes a connection too.)
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(p.client().await);
    }
    let (a, _) = holder(&p).await;
    // Five clients queue one after another; each takes a number from the
    // sequence once it has the connection.
    let mut waiting = Vec::new();
    for (i, c) in (1..).zip(clients) {
        let sql = format!("{PRIMARY}SELECT nextval('{seq}')");
        waiting.push(tokio::spawn(async move { one(&c, &sql).await }));
        until_waiting(&p, i).await;
    }
    a.batch_execute("COMMIT").await.unwrap();
    let mut got = Vec::new();
    for w in waiting {
        got.push(w.await.unwrap());
    }
    assert_eq!(got, ["1", "2", "3", "4", "5"], "served out of order");
    p.stop().await;
}

#[tokio::test]
async fn a_client_that_gives_up_waiting_takes_nothing_with_it() {
    let p = proxy_with(|c| {
        transaction_mode(1)(c);
        c.pool.checkout_timeout = Duration::from_millis(300);
    })
    .await;
    let b = p.client().await;
    let (a, pid) = holder(&p).await;
    let e = b
        .simple_query(&format!("{PRIMARY}SELECT 1"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "53300", "{e}");
    a.batch_execute("COMMIT").await.unwrap();
    // The connection came back to the pool, not to the client that left.
    let c = p.client().await;
    assert_eq!(pid_on_primary(&c).await, pid);
    assert_eq!(metric(&p, "pgsplit_pool_waiting{").await, 0);
    p.stop().await;
}

#[tokio::test]
async fn a_waiter_opens_a_new_connection_when_the_busy_one_dies() {
    let p = proxy_with(transaction_mode(1)).await;
    let b = p.client().await;
    let (a, pid) = holder(&p).await;
    let waiter = tokio::spawn(async move {
        let pid = pid_on_primary(&b).await;
        (b, pid)
    });
    until_waiting(&p, 1).await;
    let admin = direct(cluster().primary()).await;
    admin
        .execute("SELECT pg_terminate_backend($1::text::int)", &[&pid])
        .await
        .unwrap();
    // The holder hears of it at its next statement; the waiter is served
    // long before checkout_timeout (30 s).
    assert!(a.simple_query("SELECT 1").await.is_err());
    let (_b, new_pid) = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the waiter was not served after the connection died")
        .unwrap();
    assert_ne!(new_pid, pid);
    p.stop().await;
}

/// The primary's backend pid serving a statement of a new client.
async fn primary_pid(p: &TestProxy) -> String {
    pid_on_primary(&p.client().await).await
}

#[tokio::test]
async fn idle_connections_close_after_idle_timeout() {
    let p = proxy_with(|c| {
        transaction_mode(1)(c);
        c.pool.idle_timeout = Duration::from_millis(500);
    })
    .await;
    let pid = primary_pid(&p).await;
    let admin = direct(cluster().primary()).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            let n: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::text::int",
                    &[&pid],
                )
                .await
                .unwrap()
                .get(0);
            n == 0
        })
        .await,
        "an idle connection outlived idle_timeout"
    );
    assert_ne!(primary_pid(&p).await, pid);
    p.stop().await;
}

#[tokio::test]
async fn connections_are_rotated_after_server_lifetime() {
    let p = proxy_with(|c| {
        transaction_mode(1)(c);
        c.pool.server_lifetime = Duration::from_millis(500);
    })
    .await;
    let first = primary_pid(&p).await;
    assert_eq!(primary_pid(&p).await, first, "reused within its lifetime");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_ne!(primary_pid(&p).await, first, "reused past server_lifetime");
    p.stop().await;
}
