//! Which sessions pool per transaction: `[[databases]] pool_mode` overrides
//! `[pool] mode`, and a user's `pool_mode` overrides both. With one
//! connection per backend, a second client gets a connection only when the
//! first does not keep one for its session.

use std::time::Duration;

use pgsplit::config::{Database, PoolMode};

use crate::support::*;

fn one_connection(global: PoolMode, db: PoolMode) -> impl FnOnce(&mut pgsplit::config::Config) {
    move |c| {
        c.pool.mode = global;
        c.pool.max_per_backend = 1;
        c.pool.checkout_timeout = Duration::from_secs(1);
        c.databases = vec![Database {
            name: DATABASE.into(),
            pool_mode: Some(db),
        }];
    }
}

/// Two clients of the same database, each running a query while the other
/// stays connected: an error's SQLSTATE, or None when both succeed.
async fn second_client(p: &TestProxy) -> Option<String> {
    let a = p.client().await;
    a.simple_query("SELECT 1").await.unwrap();
    let b = match tokio_postgres::connect(&p.conninfo(""), tokio_postgres::NoTls).await {
        Ok((b, conn)) => {
            tokio::spawn(conn);
            b
        }
        Err(e) => return Some(sqlstate(&e)),
    };
    let r = b.simple_query("SELECT 2").await.err().map(|e| sqlstate(&e));
    a.simple_query("SELECT 3").await.unwrap();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_pool_mode_overrides_the_global_mode() {
    // Global session pooling, transaction pooling for this database.
    let p = proxy_with(one_connection(PoolMode::Session, PoolMode::Transaction)).await;
    assert_eq!(second_client(&p).await, None);
    p.stop().await;
    // Global transaction pooling, session pooling for this database.
    let p = proxy_with(one_connection(PoolMode::Transaction, PoolMode::Session)).await;
    assert_eq!(second_client(&p).await.as_deref(), Some("53300"));
    p.stop().await;
    // A user's pool_mode wins over the database's.
    let p = proxy_with(|c| {
        one_connection(PoolMode::Session, PoolMode::Session)(c);
        c.users[0].pool_mode = Some(PoolMode::Transaction);
    })
    .await;
    assert_eq!(second_client(&p).await, None);
    p.stop().await;
}
