//! Fresh reads against a replica that applies WAL 2 s late
//! (`recovery_min_apply_delay`): read-your-writes by WAL position, global
//! consistency, and lag limits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::OnceLock;
use std::time::Duration;

use pgsplit::cluster::{Cluster, ClusterOptions};
use pgsplit::config::Consistency;
use support::*;
use tokio_postgres::Client;

fn delayed() -> &'static Cluster {
    static C: OnceLock<Cluster> = OnceLock::new();
    C.get_or_init(|| {
        let opts = ClusterOptions {
            password: PASSWORD.into(),
            extra_conf: vec!["recovery_min_apply_delay = '2s'".into()],
            ..ClusterOptions::default()
        };
        Cluster::start(opts).unwrap_or_else(|e| panic!("cannot start the delayed cluster: {e}"))
    })
}

async fn setup(table: &str) -> TestProxy {
    let p = proxy_on(delayed(), |_| {}).await;
    let c = p.client().await;
    c.batch_execute(&format!("CREATE TABLE IF NOT EXISTS {table} (id int)"))
        .await
        .unwrap();
    // Until the replica has the table, reads of it may not go there.
    let r = direct(&delayed().replicas()[0]).await;
    let ok = eventually(Duration::from_secs(15), || async {
        r.query_one(&format!("SELECT to_regclass('{table}') IS NOT NULL"), &[])
            .await
            .unwrap()
            .get::<_, bool>(0)
    })
    .await;
    assert!(ok, "table never reached the replica");
    p.stop().await;
    p_with(Consistency::Session).await
}

async fn p_with(consistency: Consistency) -> TestProxy {
    proxy_on(delayed(), |c| {
        c.routing.consistency = consistency;
        // The replica is 2 s behind by design: do not wait for it.
        c.routing.causal_wait_timeout = Duration::from_millis(100);
    })
    .await
}

/// Inserts then reads back, `n` times; returns how many reads missed the row.
async fn write_then_read(c: &Client, table: &str, n: i32) -> usize {
    let mut stale = 0;
    for i in 0..n {
        c.execute(&format!("INSERT INTO {table} VALUES ($1)"), &[&i])
            .await
            .unwrap();
        let seen: i64 = c
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE id = $1"),
                &[&i],
            )
            .await
            .unwrap()
            .get(0);
        stale += usize::from(seen == 0);
    }
    stale
}

async fn served_by(c: &Client) -> u16 {
    c.query_one("SELECT inet_server_port()", &[])
        .await
        .unwrap()
        .get::<_, i32>(0) as u16
}

#[tokio::test]
async fn session_consistency_reads_its_own_writes() {
    let p = setup("fresh_session").await;
    let writer = p.client().await;
    assert_eq!(
        write_then_read(&writer, "fresh_session", 10).await,
        0,
        "stale read in session mode"
    );
    // A client that does not write still reads from the replica.
    let reader = p.client().await;
    assert_eq!(served_by(&reader).await, delayed().replicas()[0].port);
    p.stop().await;
}

#[tokio::test]
async fn eventual_consistency_shows_stale_reads() {
    let p = setup("fresh_eventual").await;
    p.stop().await;
    let p = p_with(Consistency::Eventual).await;
    let c = p.client().await;
    let stale = write_then_read(&c, "fresh_eventual", 5).await;
    assert!(
        stale > 0,
        "expected stale reads with eventual consistency and a 2 s apply delay"
    );
    p.stop().await;
}

#[tokio::test]
async fn global_consistency_shows_other_clients_writes() {
    let p = setup("fresh_global").await;
    p.stop().await;
    let p = p_with(Consistency::Global).await;
    let writer = p.client().await;
    let reader = p.client().await;
    for i in 0..5 {
        writer
            .execute("INSERT INTO fresh_global VALUES ($1)", &[&i])
            .await
            .unwrap();
        let seen: i64 = reader
            .query_one("SELECT count(*) FROM fresh_global WHERE id = $1", &[&i])
            .await
            .unwrap()
            .get(0);
        assert_eq!(seen, 1, "a reader missed another client's committed write");
    }
    p.stop().await;
}

#[tokio::test]
async fn a_lagging_replica_gets_no_reads_until_it_catches_up() {
    let p = setup("fresh_lag").await;
    p.stop().await;
    let p = proxy_on(delayed(), |c| {
        c.routing.consistency = Consistency::Eventual;
        c.routing.max_replica_lag = Some(Duration::from_millis(1000));
        c.health.interval = Duration::from_millis(100);
    })
    .await;
    let replica = delayed().replicas()[0].port;
    let primary = delayed().primary().port;
    let writer = p.client().await;
    let reader = p.client().await;
    // Keep writing: the replica falls 2 s behind, beyond the 1 s limit.
    let mut lagged = false;
    for i in 0..60 {
        writer
            .execute("INSERT INTO fresh_lag VALUES ($1)", &[&i])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        if served_by(&reader).await == primary {
            lagged = true;
            break;
        }
    }
    assert!(lagged, "reads never left the lagging replica");
    // Stop writing: once it has replayed everything, it serves reads again.
    let back = eventually(Duration::from_secs(15), || async {
        served_by(&reader).await == replica
    })
    .await;
    assert!(back, "the replica never came back after catching up");
    p.stop().await;
}
