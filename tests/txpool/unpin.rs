//! asyncpg resets a pooled connection on release with
//! `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`: that ends
//! LISTEN, session advisory lock and WITH HOLD cursor pins, so transaction
//! pooling resumes instead of the session keeping its connection forever.
//! A temporary table still pins (only DISCARD TEMP / ALL end it).

use std::time::Duration;

use crate::support::*;

const ASYNCPG_RESET: &str = "SELECT pg_advisory_unlock_all();\nCLOSE ALL;\nUNLISTEN *;\nRESET ALL;";

/// Transaction mode with one connection per backend and a short wait for
/// it: while a session is pinned, everyone else's primary statements fail.
async fn one_connection() -> TestProxy {
    proxy_with(|c| {
        crate::transaction_mode(1)(c);
        c.pool.checkout_timeout = Duration::from_millis(800);
    })
    .await
}

/// SQLSTATE of a primary statement from `c`, if it failed (53300: the only
/// primary connection is taken).
async fn primary_error(c: &tokio_postgres::Client) -> Option<String> {
    let r = c
        .batch_execute(&format!("{}SELECT 1", crate::PRIMARY))
        .await;
    r.err().map(|e| sqlstate(&e))
}

#[tokio::test]
async fn asyncpg_reset_ends_listen_lock_and_cursor_pins() {
    let p = one_connection().await;
    let c = p.client().await;
    c.batch_execute(
        "LISTEN tp_chan; SELECT pg_advisory_lock(4242);
         BEGIN; DECLARE tp_cur CURSOR WITH HOLD FOR SELECT 1; COMMIT",
    )
    .await
    .unwrap();
    assert!(metric(&p, "pgsplit_pinned_sessions_total").await >= 1);
    let blocked = p.client().await;
    let taken = Some("53300".to_owned());
    assert_eq!(primary_error(&blocked).await, taken, "pinned");
    // UNLISTEN * alone leaves the lock and the cursor: still pinned.
    c.batch_execute("UNLISTEN *").await.unwrap();
    assert_eq!(primary_error(&blocked).await, taken);
    c.batch_execute(ASYNCPG_RESET).await.unwrap();
    assert_eq!(
        primary_error(&blocked).await,
        None,
        "after the reset the connection is shared again"
    );
    // The lock really is gone: another session takes it at once.
    let got: bool = blocked
        .query_one("SELECT pg_try_advisory_xact_lock(4242)", &[])
        .await
        .unwrap()
        .get(0);
    assert!(got);
    p.stop().await;
}

/// A session advisory lock outlasts the rollback of the text that took it:
/// `SELECT pg_advisory_lock(k); <error>` leaves the lock held, so the
/// session is pinned even though its text failed, and the lock is not left
/// on a pooled connection for the next client.
#[tokio::test]
async fn a_lock_taken_before_an_error_still_pins() {
    let p = one_connection().await;
    let c = p.client().await;
    let e = c
        .batch_execute("SELECT pg_advisory_lock(4343); SELECT 1/0")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "22012");
    let blocked = p.client().await;
    assert_eq!(
        primary_error(&blocked).await,
        Some("53300".to_owned()),
        "the lock holder keeps the only primary connection"
    );
    let unlocked: bool = c
        .query_one("SELECT pg_advisory_unlock(4343)", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        unlocked,
        "the unlock reaches the connection holding the lock"
    );
    p.stop().await;
}
