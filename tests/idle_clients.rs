//! Memory per idle client: 5,000 logged-in, idle clients on the pgsplit
//! binary keep its resident set at or below 100 MB (issue target).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use support::*;

const CLIENTS: usize = 5_000;
const LIMIT_KB: u64 = 100 * 1024;

struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// Reads messages until ReadyForQuery: the session is open.
async fn until_ready(s: &mut tokio::net::TcpStream) {
    loop {
        let mut head = [0u8; 5];
        s.read_exact(&mut head).await.unwrap();
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; len.saturating_sub(4)];
        s.read_exact(&mut body).await.unwrap();
        assert_ne!(
            head[0],
            b'E',
            "login failed: {}",
            String::from_utf8_lossy(&body)
        );
        if head[0] == b'Z' {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_idle_clients_fit_in_100_mb() {
    let (soft, _) = nofile_limit();
    assert!(
        soft >= 2 * CLIENTS as u64 + 500,
        "open-file limit {soft} is too low for {CLIENTS} clients and their proxy sockets; \
         raise it (ulimit -n 20000)"
    );
    ensure_md5_user(cluster());
    let dir = std::env::temp_dir().join(format!("pgsplit-idle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = config_text()
        .replacen("127.0.0.1:0", &format!("127.0.0.1:{port}"), 1)
        .replace("[listen]\n", "[listen]\nmax_clients = 6000\n");
    let file = dir.join("proxy.toml");
    std::fs::write(&file, text).unwrap();
    let proxy = Running(
        Command::new(env!("CARGO_BIN_EXE_pgsplit"))
            .args(["--config", &file.to_string_lossy()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("pgsplit.err")).unwrap())
            .spawn()
            .unwrap(),
    );
    let pid = proxy.0.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "pgsplit did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The first client's greeting is learnt; the rest are idle sessions.
    let mut first = md5_login(port).await;
    until_ready(&mut first).await;
    let before = rss_kb(pid);
    let started = Instant::now();
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS / 50 {
        let batch = (0..50).map(|_| async {
            let mut s = md5_connect(port).await;
            until_ready(&mut s).await;
            s
        });
        clients.extend(futures_util::future::join_all(batch).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kb(pid);
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
        after <= LIMIT_KB,
        "pgsplit RSS {after} kB with {CLIENTS} idle clients (limit {LIMIT_KB} kB)"
    );
    drop(clients);
    drop(first);
}

fn nofile_limit() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("no open-file limit in /proc/self/limits");
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}
