//! Limits against abusive clients: each is configurable (`[listen]`), each
//! hits only the client that abuses it, and the proxy keeps serving others.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use support::raw::{self, read_until_ready};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Everything a test does is bounded by this.
const BOUND: Duration = Duration::from_secs(30);

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(BOUND, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {BOUND:?}"),
    }
}

/// Reads until the proxy closes the socket (or 10 s pass); returns the
/// bytes and whether it was closed.
async fn read_to_close(s: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .is_ok();
    (out, closed)
}

async fn select_one(p: &TestProxy) {
    let c = p.client().await;
    let row = c.query_one("SELECT 1", &[]).await;
    assert_eq!(row.map(|r| r.get::<_, i32>(0)).ok(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_startup_is_closed_after_startup_timeout() {
    let p = proxy_with(|c| c.listen.startup_timeout = Duration::from_secs(1)).await;
    bounded("slowloris", async {
        let packet = raw::startup_packet(&[("user", USER), ("database", DATABASE)]);
        let mut slow = Vec::new();
        for _ in 0..10 {
            slow.push(TcpStream::connect(("127.0.0.1", p.port)).await.unwrap());
        }
        let started = Instant::now();
        let mut tasks = Vec::new();
        for mut s in slow {
            let packet = packet.clone();
            tasks.push(tokio::spawn(async move {
                // One byte every 500 ms, until the proxy hangs up.
                for b in packet {
                    if s.write_all(&[b]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let mut buf = [0u8; 64];
                    match tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
                        _ => {}
                    }
                }
                let (_, closed) = read_to_close(&mut s).await;
                assert!(closed, "slow client never closed");
                started.elapsed()
            }));
        }
        // Meanwhile everyone else is served.
        select_one(&p).await;
        for t in tasks {
            let took = t.await.unwrap();
            assert!(
                took >= Duration::from_millis(900) && took < Duration::from_secs(4),
                "slow client closed after {took:?}, startup_timeout is 1s"
            );
        }
        select_one(&p).await;
    })
    .await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_message_closes_that_client_only() {
    ensure_md5_user(cluster());
    let p = proxy_with(|c| c.listen.max_message_size = 1 << 20).await;
    bounded("oversized", async {
        let other = p.client().await;
        other.simple_query("BEGIN").await.unwrap();
        // Just under the limit is fine.
        let big = "x".repeat((1 << 20) - 1000);
        let n: i32 = other
            .query_one(&format!("SELECT length('{big}')"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n as usize, big.len());

        let mut s = raw::md5_session(p.port).await.unwrap();
        let huge = format!("SELECT length('{}')", "y".repeat(2 << 20));
        // The proxy may hang up before the whole message is written.
        let _ = s.write_all(&raw::query(&huge)).await;
        let (got, closed) = read_to_close(&mut s).await;
        assert!(closed, "oversized client not closed");
        assert!(
            got.windows(5).any(|w| w == b"08P01"),
            "expected a 08P01 FATAL, got {:?}",
            String::from_utf8_lossy(&got)
        );
        assert!(
            String::from_utf8_lossy(&got).contains("exceeds the limit"),
            "{got:?}"
        );
        // The other client, mid-transaction, goes on.
        let r = other.query_one("SELECT 2", &[]).await.unwrap();
        assert_eq!(r.get::<_, i32>(0), 2);
        other.simple_query("COMMIT").await.unwrap();
    })
    .await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_clients_refuses_with_53300_then_admits_again() {
    let p = proxy_with(|c| c.listen.max_clients = 3).await;
    bounded("max clients", async {
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(p.client().await);
        }
        let refused = tokio_postgres::connect(&p.conninfo(""), tokio_postgres::NoTls).await;
        match refused {
            Ok(_) => panic!("a fourth client was admitted with max_clients = 3"),
            Err(e) => assert_eq!(sqlstate(&e), "53300", "{e}"),
        }
        held.pop();
        let admitted = eventually(Duration::from_secs(5), || async {
            tokio_postgres::connect(&p.conninfo(""), tokio_postgres::NoTls)
                .await
                .is_ok()
        })
        .await;
        assert!(admitted, "a slot was freed but no client was admitted");
        for c in &held {
            c.simple_query("SELECT 1").await.unwrap();
        }
    })
    .await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_waits_auth_failure_delay_without_blocking_others() {
    ensure_md5_user(cluster());
    let delay = Duration::from_millis(1500);
    let p = proxy_with(|c| c.listen.auth_failure_delay = delay).await;
    bounded("auth delay", async {
        let wrong = format!(
            "host=127.0.0.1 port={} user={USER} password=wrong dbname={DATABASE}",
            p.port
        );
        let started = Instant::now();
        let attempt = tokio::spawn(async move {
            let r = tokio_postgres::connect(&wrong, tokio_postgres::NoTls).await;
            (r.err().map(|e| sqlstate(&e)), started.elapsed())
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Good clients are served while the wrong password waits.
        for _ in 0..5 {
            let mut s = raw::md5_session(p.port).await.unwrap();
            s.write_all(&raw::query("SELECT 1")).await.unwrap();
            read_until_ready(&mut s).await.unwrap();
        }
        let good_done = started.elapsed();
        let (code, took) = attempt.await.unwrap();
        assert_eq!(code.as_deref(), Some("28P01"));
        assert!(took >= delay, "wrong password answered after {took:?}");
        assert!(took < delay + Duration::from_secs(2), "{took:?}");
        assert!(
            good_done < delay,
            "good clients took {good_done:?}: they were held up by the delay"
        );
        println!("wrong password answered after {took:?}; 5 good clients done after {good_done:?}");
    })
    .await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_in_transaction_is_closed_with_25p03_and_rolled_back() {
    ensure_md5_user(cluster());
    let setup = direct(cluster().primary()).await;
    setup
        .simple_query(
            "CREATE TABLE IF NOT EXISTS limits_idle (id int); \
             GRANT ALL ON limits_idle TO md5user",
        )
        .await
        .unwrap();
    let limit = Duration::from_millis(700);
    // One connection per pool: the next client gets the same one back.
    let p = proxy_with(|c| {
        c.listen.idle_in_transaction_timeout = Some(limit);
        c.pool.max_per_backend = 1;
        c.pool.checkout_timeout = Duration::from_secs(2);
    })
    .await;
    bounded("idle in transaction", async {
        // Idle outside a transaction: never closed.
        let calm = p.client().await;
        tokio::time::sleep(limit * 2).await;
        calm.simple_query("SELECT 1").await.unwrap();
        // A long statement inside a transaction is not idleness.
        calm.simple_query("BEGIN").await.unwrap();
        calm.simple_query("SELECT pg_sleep(1.2)").await.unwrap();
        calm.simple_query("COMMIT").await.unwrap();
        drop(calm);

        let mut s = raw::md5_session(p.port).await.unwrap();
        s.write_all(&raw::query("BEGIN; INSERT INTO limits_idle VALUES (4242)"))
            .await
            .unwrap();
        let got = read_until_ready(&mut s).await.unwrap();
        assert_eq!(got.last().map(|(_, b)| b.clone()), Some(vec![b'T']));
        let started = Instant::now();
        let (got, closed) = read_to_close(&mut s).await;
        let took = started.elapsed();
        assert!(closed, "idle-in-transaction client not closed");
        assert!(
            got.windows(5).any(|w| w == b"25P03"),
            "expected 25P03, got {:?}",
            String::from_utf8_lossy(&got)
        );
        assert!(
            took >= limit - Duration::from_millis(50) && took < limit + Duration::from_secs(2),
            "closed after {took:?}, limit {limit:?}"
        );
        // Rolled back, and the one pooled connection serves the next client.
        let next = p.client().await;
        next.simple_query("INSERT INTO limits_idle VALUES (1)")
            .await
            .unwrap();
        let n: i64 = setup
            .query_one("SELECT count(*) FROM limits_idle WHERE id = 4242", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "the abandoned transaction was committed");
        let stuck: i64 = setup
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE state LIKE 'idle in transaction%' AND query LIKE '%4242%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(stuck, 0, "a backend was left idle in transaction");
    })
    .await;
    p.stop().await;
}

/// A client that sends many queries with big results and never reads them:
/// the proxy stops reading from the backend (backpressure) instead of
/// buffering; its memory stays flat and others are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_never_reads_does_not_grow_proxy_memory() {
    ensure_md5_user(cluster());
    let mut proxy = process::ProxyProcess::start("", "");
    let port = proxy.port;
    bounded("backpressure", async {
        // Warm-up: pools, caches, the first big result.
        let mut w = raw::md5_session(port).await.unwrap();
        w.write_all(&raw::query("SELECT repeat('x', 1048576) FROM generate_series(1, 8)"))
            .await
            .unwrap();
        read_until_ready(&mut w).await.unwrap();
        drop(w);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = proxy.rss_kib();

        let mut hogs = Vec::new();
        for _ in 0..4 {
            let mut s = raw::md5_session(port).await.unwrap();
            hogs.push(tokio::spawn(async move {
                // 100 queries of 64 KiB text, each answering 8 MiB: 800 MiB
                // per client if anyone buffered them.
                let pad = "z".repeat(64 << 10);
                for _ in 0..100 {
                    let q = format!(
                        "SELECT repeat('x', 1048576) FROM generate_series(1, 8) /* {pad} */"
                    );
                    if s.write_all(&raw::query(&q)).await.is_err() {
                        break;
                    }
                }
                s
            }));
        }
        let mut peak = 0;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            peak = peak.max(proxy.rss_kib());
        }
        let grew = peak.saturating_sub(before);
        println!("proxy RSS before {before} KiB, peak with 4 clients not reading {peak} KiB (+{grew} KiB)");
        assert!(
            grew < 48 * 1024,
            "proxy memory grew by {grew} KiB for clients that do not read"
        );
        // Others are served meanwhile, promptly.
        let t0 = Instant::now();
        let (c, conn) = tokio_postgres::connect(&proxy.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        c.simple_query("SELECT 1").await.unwrap();
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        for h in hogs {
            h.abort();
        }
        assert!(proxy.alive(), "the proxy died");
    })
    .await;
}
