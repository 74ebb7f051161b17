//! Memory per idle client: 5,000 logged-in, idle clients on the pgsplit
//! binary keep its resident set at or below 100 MB (issue target).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use support::process::ProxyProcess;
use support::*;

const CLIENTS: usize = 5_000;
const LIMIT_KIB: u64 = 100 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_idle_clients_fit_in_100_mb() {
    let soft = nofile_soft_limit();
    assert!(
        soft >= 2 * CLIENTS as u64 + 500,
        "open-file limit {soft} is too low for {CLIENTS} clients and their proxy sockets; \
         raise it (ulimit -n 20000)"
    );
    ensure_md5_user(cluster());
    let proxy = ProxyProcess::start("max_clients = 6000\n", "");
    let login = || async {
        raw::md5_session(proxy.port)
            .await
            .unwrap_or_else(|e| panic!("md5 login: {e}"))
    };
    // The first client's greeting is learnt; the rest are idle sessions.
    let first = login().await;
    let before = proxy.rss_kib();
    let started = Instant::now();
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS / 50 {
        clients.extend(futures_util::future::join_all((0..50).map(|_| login())).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = proxy.rss_kib();
    println!(
        "{} idle clients logged in in {:?}; pgsplit RSS {} kB before, {} kB after ({} bytes per client)",
        clients.len(),
        started.elapsed(),
        before,
        after,
        (after.saturating_sub(before)) * 1024 / CLIENTS as u64
    );
    assert_eq!(clients.len(), CLIENTS);
    assert!(
        after <= LIMIT_KIB,
        "pgsplit RSS {after} kB with {CLIENTS} idle clients (limit {LIMIT_KIB} kB)"
    );
    drop(clients);
    drop(first);
}

/// The soft open-file limit of this process (the child inherits it).
fn nofile_soft_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("no open-file limit in /proc/self/limits");
    line.split_whitespace()
        .find_map(|w| w.parse().ok())
        .expect("no number in the open-file limit line")
}
