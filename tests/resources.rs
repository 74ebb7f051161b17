//! Resource soundness: the `pgsplit` binary (a child process) serves
//! 10,000 connect / startup / authenticate / query / terminate cycles, and
//! clients that vanish without Terminate (idle or mid-query); afterwards its
//! resident memory and open file descriptors are back where they started
//! (measured from /proc), and it holds no more server connections than its
//! pools allow.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use support::process::ProxyProcess;
use support::raw::{self, read_until_ready};
use support::*;
use tokio::io::AsyncWriteExt;

const TASKS: usize = 8;

/// One proxy at a time: server connections are counted per user.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Clone, Copy)]
enum Ending {
    /// Terminate, then close.
    Polite,
    /// Close the socket after the answer, without Terminate.
    Vanish,
    /// Close the socket with the query still running.
    MidQuery,
}

async fn one_cycle(port: u16, ending: Ending) {
    let mut s = raw::md5_session(port).await.expect("login");
    match ending {
        Ending::MidQuery => {
            s.write_all(&raw::query("SELECT pg_sleep(0.2)"))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        _ => {
            s.write_all(&raw::query("SELECT 1")).await.unwrap();
            let got = read_until_ready(&mut s).await.expect("answer");
            assert!(got.iter().any(|(t, _)| *t == b'D'), "no row: {got:?}");
            if let Ending::Polite = ending {
                s.write_all(&raw::TERMINATE).await.unwrap();
            }
        }
    }
    drop(s);
}

/// `n` cycles spread over [`TASKS`] concurrent clients.
async fn cycles(port: u16, n: usize, ending: Ending) {
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let share = n / TASKS + usize::from(t < n % TASKS);
            tokio::spawn(async move {
                for _ in 0..share {
                    one_cycle(port, ending).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// Waits for the proxy to finish giving connections back (abandoned
/// queries are cancelled and their connections closed in the background),
/// up to 10 s or until its fds are back to `floor`, then samples.
async fn settle(p: &ProxyProcess, floor: usize) -> (u64, usize) {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    eventually(Duration::from_secs(10), || async { p.fds() <= floor }).await;
    (p.rss_kib(), p.fds())
}

async fn server_connections() -> i64 {
    let mut total = 0;
    for n in cluster().nodes() {
        let c = direct(n).await;
        total += c
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = 'md5user'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_connections_leave_no_trace() {
    let _serial = SERIAL.lock().await;
    ensure_md5_user(cluster());
    let mut p = ProxyProcess::start("", "[pool]\nmax_per_backend = 10\n");
    let port = p.port;
    let run = async {
        cycles(port, 1_000, Ending::Polite).await;
        let (rss0, fds0) = settle(&p, 0).await;
        let t0 = Instant::now();
        cycles(port, 10_000, Ending::Polite).await;
        let took = t0.elapsed();
        let (rss1, fds1) = settle(&p, fds0 + 2).await;
        println!(
            "10,000 cycles in {took:?}: RSS {rss0} → {rss1} KiB, fds {fds0} → {fds1}, \
             server connections {}",
            server_connections().await
        );
        assert!(p.alive(), "the proxy died");
        assert!(fds1 <= fds0 + 2, "fds grew from {fds0} to {fds1}");
        assert!(
            rss1 <= rss0 + 8 * 1024,
            "RSS grew from {rss0} to {rss1} KiB over 10,000 connections"
        );
        assert!(server_connections().await <= 2 * 10);
    };
    if tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .is_err()
    {
        panic!("10,000 cycles did not finish within 120 s");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_vanishing_without_terminate_leave_no_trace() {
    let _serial = SERIAL.lock().await;
    ensure_md5_user(cluster());
    let mut p = ProxyProcess::start("", "[pool]\nmax_per_backend = 10\n");
    let port = p.port;
    let run = async {
        cycles(port, 300, Ending::Vanish).await;
        cycles(port, 40, Ending::MidQuery).await;
        let (rss0, fds0) = settle(&p, 0).await;
        cycles(port, 2_000, Ending::Vanish).await;
        cycles(port, 200, Ending::MidQuery).await;
        let (rss1, fds1) = settle(&p, fds0 + 2).await;
        println!(
            "2,000 vanished + 200 gone mid-query: RSS {rss0} → {rss1} KiB, fds {fds0} → {fds1}, \
             server connections {}",
            server_connections().await
        );
        assert!(p.alive(), "the proxy died");
        assert!(fds1 <= fds0 + 2, "fds grew from {fds0} to {fds1}");
        assert!(
            rss1 <= rss0 + 8 * 1024,
            "RSS grew from {rss0} to {rss1} KiB"
        );
        // Abandoned queries were cancelled, not left running.
        let busy = eventually(Duration::from_secs(5), || async {
            let mut running = 0;
            for n in cluster().nodes() {
                let c = direct(n).await;
                running += c
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity \
                         WHERE usename = 'md5user' AND state = 'active'",
                        &[],
                    )
                    .await
                    .unwrap()
                    .get::<_, i64>(0);
            }
            running == 0
        })
        .await;
        assert!(busy, "abandoned queries still running");
        assert!(server_connections().await <= 2 * 10);
    };
    if tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .is_err()
    {
        panic!("vanishing clients did not finish within 120 s");
    }
}
