//! Operations under load: a reload during pgbench drops nothing; SIGTERM to
//! the pgsplit binary during pgbench ends with no failed transaction and a
//! clean exit within `shutdown_timeout`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// Both tests run `pgbench -i` on the shared cluster's database: one at a time.
static PGBENCH_TABLES: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn pgbench(args: &[&str]) -> Command {
    let mut cmd = Command::new("pgbench");
    cmd.args(args).stdin(Stdio::null());
    cmd
}

fn output(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (install postgresql-client)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn failed_transactions(out: &str) -> String {
    out.lines()
        .find(|l| l.starts_with("number of failed transactions"))
        .unwrap_or_else(|| panic!("no failure count in pgbench output:\n{out}"))
        .to_owned()
}

fn url(port: u16) -> String {
    format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}")
}

fn write_config(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let file = dir.join("proxy.toml");
    std::fs::write(&file, format!("{}{extra}", config_text())).unwrap();
    file
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pgsplit-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// The lock only serializes the two tests (the other holder is not async).
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_during_pgbench_drops_nothing() {
    let _one = PGBENCH_TABLES.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_dir("reload-load");
    let file = write_config(&dir, "");
    let proxy = pgsplit::start(pgsplit::config::Config::load(&file).unwrap())
        .await
        .unwrap();
    let url = url(proxy.addr.port());
    tokio::task::block_in_place(|| {
        let (ok, out) = output(&mut pgbench(&["-i", "-q", "-s", "1", &url]));
        assert!(ok, "{out}");
    });
    let bench = std::thread::spawn(move || output(&mut pgbench(&["-T", "5", "-c", "4", &url])));
    for (i, extra) in [
        "\n[pool]\nmax_per_backend = 10\n",
        "\n[[users]]\nname = \"later\"\npassword = \"x\"\n",
    ]
    .iter()
    .enumerate()
    {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        write_config(&dir, extra);
        let report = proxy.reload().await.unwrap();
        assert!(!report.changed.is_empty(), "reload {i}: {report:?}");
    }
    let (ok, out) = tokio::task::block_in_place(|| bench.join().unwrap());
    assert!(ok, "pgbench failed during reloads:\n{out}");
    let failed = failed_transactions(&out);
    assert!(failed.contains(": 0 "), "{failed}");
    println!(
        "pgbench across two reloads: {}",
        out.lines().find(|l| l.starts_with("tps")).unwrap_or("")
    );
    proxy.stop(Duration::from_secs(2)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The pgsplit process, killed if the test panics before it exits.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn sigterm_during_pgbench_drains_cleanly() {
    let _one = PGBENCH_TABLES.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_dir("drain-load");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = config_text()
        .replacen("127.0.0.1:0", &format!("127.0.0.1:{port}"), 1)
        .replace("[listen]\n", "[listen]\nshutdown_timeout = \"5s\"\n");
    let file = dir.join("proxy.toml");
    std::fs::write(&file, text).unwrap();
    let mut proxy = Running(
        Command::new(env!("CARGO_BIN_EXE_pgsplit"))
            .args(["--config", &file.to_string_lossy()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("pgsplit.err")).unwrap())
            .spawn()
            .unwrap(),
    );
    let url = url(port);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "pgsplit did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (ok, out) = output(&mut pgbench(&["-i", "-q", "-s", "1", &url]));
    assert!(ok, "{out}");
    let bench = std::thread::spawn(move || output(&mut pgbench(&["-T", "8", "-c", "4", &url])));
    std::thread::sleep(Duration::from_secs(2));
    let signalled = Instant::now();
    let _ = Command::new("kill")
        .args(["-TERM", &proxy.0.id().to_string()])
        .status();
    let status = loop {
        if let Some(s) = proxy.0.try_wait().unwrap() {
            break s;
        }
        if signalled.elapsed() > Duration::from_secs(10) {
            panic!("pgsplit did not exit within shutdown_timeout after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = signalled.elapsed();
    let (_, out) = bench.join().unwrap();
    let log = std::fs::read_to_string(dir.join("pgsplit.err")).unwrap_or_default();
    assert!(status.success(), "pgsplit exit {status}:\n{log}");
    let failed = failed_transactions(&out);
    assert!(failed.contains(": 0 "), "{failed}\n{out}");
    // Clients were ended between transactions, with PostgreSQL's own
    // message: at command 4, the BEGIN of the built-in tpcb-like script
    // (commands 0-3 are its \set lines), never inside a transaction.
    for line in out.lines().filter(|l| l.contains("aborted in command")) {
        assert!(line.contains("aborted in command 4 "), "{line}");
    }
    for line in out.lines().filter(|l| l.contains("FATAL")) {
        assert!(line.contains("administrator command"), "{line}");
    }
    assert!(
        !out.contains("server closed the connection unexpectedly"),
        "{out}"
    );
    let aborted = out
        .lines()
        .filter(|l| l.contains("aborted in command"))
        .count();
    let sample = out
        .lines()
        .find(|l| l.contains("aborted in command"))
        .unwrap_or("");
    println!(
        "SIGTERM during pgbench: exit 0 after {took:?}; {failed}; {aborted} clients ended \
         between transactions ({sample})"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
