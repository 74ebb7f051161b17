//! Real drivers through a transaction-pooling proxy: psycopg 3, asyncpg,
//! PgJDBC and node-postgres programs (`tests/drivers/`) run as
//! subprocesses against a proxy with two connections per backend, so their
//! clients really share backend connections. Each program checks its own
//! results (prepared statements with colliding names, search_path and
//! application_name per client, transactions, read-your-writes) and exits
//! non-zero naming what failed. A missing driver fails the test with the
//! command that installs it (`tests/drivers/install.sh`); it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use pgsplit::config::{Consistency, PoolMode};
use support::*;
use tokio::process::Command;

/// Backend connections per (backend, user, database) pool: fewer than any
/// program's clients.
const POOL: usize = 2;
const DRIVER_TIMEOUT: Duration = Duration::from_secs(240);
const INSTALL: &str = "run `bash tests/drivers/install.sh` (what .ci/run does)";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn drivers() -> PathBuf {
    root().join("tests/drivers")
}

/// Fails the test, saying how to install what is missing.
fn require(path: &Path, what: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{what} is not installed ({} is missing): {INSTALL}",
        path.display()
    );
    path.to_path_buf()
}

fn require_tool(tool: &str, what: &str) {
    let found = std::process::Command::new(tool)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(found, "{what} ({tool}) is not installed: {INSTALL}");
}

fn python() -> PathBuf {
    require(
        &root().join("target/driver-venv/bin/python"),
        "the driver venv",
    )
}

async fn transaction_proxy() -> TestProxy {
    proxy_with(|c| {
        c.pool.mode = PoolMode::Transaction;
        c.pool.max_per_backend = POOL;
        c.pool.checkout_timeout = Duration::from_secs(30);
        // Each program creates its tables on one connection, then reads them
        // from others at once: with the default `session` consistency those
        // first reads may reach the replica before it has replayed the
        // tables ("relation t does not exist", 1 run in 5 for node-postgres).
        // `global` is the setting for exactly this: reads see every write
        // the proxy saw committed.
        c.routing.consistency = Consistency::Global;
    })
    .await
}

/// Runs a driver program against `p` with the PG* variables set; panics
/// with its output unless it exits 0. Returns its stdout.
async fn run(p: &TestProxy, name: &str, cmd: &mut Command) -> String {
    use tokio::io::AsyncReadExt;
    cmd.env("PGHOST", "127.0.0.1")
        .env("PGPORT", p.port.to_string())
        .env("PGUSER", USER)
        .env("PGPASSWORD", PASSWORD)
        .env("PGDATABASE", DATABASE)
        .env("PGSSLMODE", "disable")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => panic!("{name}: cannot run {cmd:?}: {e}"),
    };
    // Read both pipes while it runs, so a hang still shows what it printed.
    let mut pipes = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let read = tokio::spawn(async move {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let _ = tokio::join!(pipes.0.read_to_end(&mut out), pipes.1.read_to_end(&mut err));
        (out, err)
    });
    let status = match tokio::time::timeout(DRIVER_TIMEOUT, child.wait()).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => panic!("{name}: waiting for it: {e}"),
        Err(_) => {
            let _ = child.kill().await;
            None
        }
    };
    let (out, err) = read.await.unwrap();
    let stdout = String::from_utf8_lossy(&out).into_owned();
    let stderr = String::from_utf8_lossy(&err);
    let verdict = match status {
        None => format!("no result within {DRIVER_TIMEOUT:?}"),
        Some(s) if s.success() => {
            println!("{name}: {stdout}");
            return stdout;
        }
        Some(s) => s.to_string(),
    };
    panic!("{name} failed ({verdict}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
}

/// What every driver run leaves true: nothing pinned a session (asyncpg's
/// reset and the drivers' statements must not end transaction pooling),
/// more clients than pooled connections, and every client gone.
async fn after(p: &TestProxy, min_clients: u64) {
    assert_eq!(
        metric(p, "pgsplit_pinned_sessions_total").await,
        0,
        "a driver's session was pinned"
    );
    let clients = metric(p, "pgsplit_client_connections_total").await;
    assert!(
        clients >= min_clients,
        "only {clients} clients connected; the programs open more"
    );
    let gone = eventually(Duration::from_secs(10), || async {
        metric(p, "pgsplit_client_connections_active").await == 0
    })
    .await;
    assert!(gone, "client sessions still open after the program exited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg3_prepared_statements_in_transaction_mode() {
    let py = python();
    let p = transaction_proxy().await;
    let out = run(
        &p,
        "psycopg",
        Command::new(py).arg(drivers().join("psycopg_tx.py")),
    )
    .await;
    assert!(out.contains("rounds ok"), "{out}");
    after(&p, 7).await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncpg_always_prepared_pool_and_reset_in_transaction_mode() {
    let py = python();
    let p = transaction_proxy().await;
    let out = run(
        &p,
        "asyncpg",
        Command::new(py).arg(drivers().join("asyncpg_tx.py")),
    )
    .await;
    assert!(out.contains(": ok"), "{out}");
    after(&p, 9).await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_server_prepared_batches_and_transactions() {
    require_tool("javac", "a JDK");
    let jar = std::env::var_os("PGSPLIT_JDBC_JAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java/postgresql.jar"));
    let jar = require(&jar, "PgJDBC (Debian package libpostgresql-jdbc-java)");
    let classes = std::env::temp_dir().join(format!("pgsplit-jdbc-{}", std::process::id()));
    std::fs::create_dir_all(&classes).unwrap();
    let javac = Command::new("javac")
        .arg("-cp")
        .arg(&jar)
        .arg("-d")
        .arg(&classes)
        .arg(drivers().join("Main.java"))
        .output()
        .await
        .expect("run javac");
    assert!(
        javac.status.success(),
        "javac Main.java failed:\n{}",
        String::from_utf8_lossy(&javac.stderr)
    );
    let p = transaction_proxy().await;
    let cp = format!("{}:{}", classes.display(), jar.display());
    let out = run(
        &p,
        "PgJDBC",
        Command::new("java").arg("-cp").arg(cp).arg("Main"),
    )
    .await;
    let _ = std::fs::remove_dir_all(&classes);
    assert!(out.contains("rounds ok"), "{out}");
    after(&p, 6).await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_postgres_named_queries_with_the_same_name() {
    require_tool("node", "node.js");
    let dir = drivers().join("node");
    require(&dir.join("node_modules/pg"), "node-postgres");
    let p = transaction_proxy().await;
    let out = run(
        &p,
        "node-postgres",
        Command::new("node")
            .arg(dir.join("named.js"))
            .current_dir(&dir),
    )
    .await;
    assert!(out.contains("rounds ok"), "{out}");
    after(&p, 7).await;
    p.stop().await;
}
