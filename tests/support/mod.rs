//! Test harness: one real primary + streaming replica per test binary
//! (`pgsplit::cluster`, torn down by its watchdog when the binary exits),
//! and a fresh in-process proxy per test on port 0. Tests that kill,
//! promote or restart servers start their own cluster ([`own`]).
#![allow(dead_code)]

pub mod own;
pub mod process;
pub mod raw;

use std::sync::OnceLock;
use std::time::Duration;

use pgsplit::cluster::{Cluster, ClusterOptions};
use pgsplit::config::Config;
use tokio_postgres::{Client, NoTls};

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// The shared cluster, started on first use. Missing PostgreSQL binaries
/// fail the test with the install command; they never skip it.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        let opts = ClusterOptions {
            password: "app-secret".into(),
            ..ClusterOptions::default()
        };
        match Cluster::start(opts) {
            Ok(c) => c,
            Err(e) => panic!("cannot start the test PostgreSQL cluster: {e}"),
        }
    })
}

pub const USER: &str = "app";
pub const PASSWORD: &str = "app-secret";
pub const DATABASE: &str = "app";

/// The proxy configuration for the shared cluster.
pub fn config() -> Config {
    config_for(cluster())
}

/// The proxy configuration for `c`.
pub fn config_for(c: &Cluster) -> Config {
    match Config::parse(&config_text_for(c)) {
        Ok(c) => c,
        Err(e) => panic!("test config invalid: {e}"),
    }
}

/// [`config`] as TOML text (for tests that write a config file).
pub fn config_text() -> String {
    config_text_for(cluster())
}

fn config_text_for(c: &Cluster) -> String {
    let backends: String = c
        .nodes()
        .iter()
        .map(|n| format!("[[backends]]\naddr = \"{}\"\n", n.addr()))
        .collect();
    format!(
        "[listen]\naddr = \"127.0.0.1:0\"\n[admin]\naddr = \"127.0.0.1:0\"\n{backends}\
         [[users]]\nname = \"{USER}\"\npassword = \"{PASSWORD}\"\n\
         [[users]]\nname = \"md5user\"\npassword = \"{PASSWORD}\"\nauth = \"md5\"\n\
         [health]\ninterval = \"200ms\"\ndatabase = \"{DATABASE}\"\n\
         [routing]\ncausal_wait_timeout = \"2s\"\n"
    )
}

pub struct TestProxy {
    pub proxy: Option<pgsplit::Proxy>,
    pub port: u16,
}

impl TestProxy {
    pub fn url(&self) -> String {
        format!(
            "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    pub fn conninfo(&self, extra: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={USER} password={PASSWORD} dbname={DATABASE} {extra}",
            self.port
        )
    }

    /// A tokio-postgres client through the proxy (its connection task spawned).
    pub async fn client(&self) -> Client {
        self.client_with("").await
    }

    pub async fn client_with(&self, extra: &str) -> Client {
        let (client, conn) = match tokio_postgres::connect(&self.conninfo(extra), NoTls).await {
            Ok(c) => c,
            Err(e) => panic!("connect through the proxy: {e}"),
        };
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }

    pub async fn stop(mut self) {
        if let Some(p) = self.proxy.take() {
            p.stop(Duration::from_secs(2)).await;
        }
    }
}

/// Starts a proxy in front of the shared cluster.
pub async fn proxy() -> TestProxy {
    proxy_with(|_| {}).await
}

pub async fn proxy_with(tweak: impl FnOnce(&mut Config)) -> TestProxy {
    proxy_on(cluster(), tweak).await
}

/// Test logs at `warn` (or `RUST_LOG`), captured per test; once per binary.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// Starts a proxy in front of `cluster`.
pub async fn proxy_on(cluster: &Cluster, tweak: impl FnOnce(&mut Config)) -> TestProxy {
    init_tracing();
    let mut config = config_for(cluster);
    tweak(&mut config);
    let proxy = match pgsplit::start(config).await {
        Ok(p) => p,
        Err(e) => panic!("proxy start: {e}"),
    };
    let port = proxy.addr.port();
    TestProxy {
        proxy: Some(proxy),
        port,
    }
}

/// A direct connection to a node, as the app user.
pub async fn direct(node: &pgsplit::cluster::Node) -> Client {
    let info = format!(
        "host=127.0.0.1 port={} user={USER} password={PASSWORD} dbname={DATABASE}",
        node.port
    );
    let (client, conn) = match tokio_postgres::connect(&info, NoTls).await {
        Ok(c) => c,
        Err(e) => panic!("direct connect to {}: {e}", node.name),
    };
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// SQLSTATE of a tokio-postgres error, or a panic naming what happened.
pub fn sqlstate(e: &tokio_postgres::Error) -> String {
    match e.code() {
        Some(c) => c.code().to_owned(),
        None => panic!("expected a server error with a SQLSTATE, got: {e}"),
    }
}

/// Waits until `f` returns true, up to `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sum of the metric samples whose line starts with `prefix`, read from the
/// proxy's admin endpoint.
pub async fn metric(p: &TestProxy, prefix: &str) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(admin) = p.proxy.as_ref().map(|p| p.admin_addr) else {
        panic!("the proxy is stopped");
    };
    let mut s = match tokio::net::TcpStream::connect(admin).await {
        Ok(s) => s,
        Err(e) => panic!("admin endpoint {admin}: {e}"),
    };
    let mut body = String::new();
    let sent = s
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .await;
    if let Err(e) = sent.and(s.read_to_string(&mut body).await.map(|_| ())) {
        panic!("reading /metrics: {e}");
    }
    body.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A login role for the md5 tests (`[[users]] auth = "md5"` in the config).
pub fn ensure_md5_user(c: &Cluster) {
    // Concurrent CREATE ROLEs race on the catalog's unique index.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let sql = format!(
        "DO $$ BEGIN CREATE ROLE md5user LOGIN PASSWORD '{PASSWORD}'; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    );
    if let Err(e) = c.primary().psql(&sql) {
        panic!("creating md5user: {e}");
    }
}

/// Waits until the shared cluster's replica has replayed everything its
/// primary has now.
pub async fn replica_caught_up() {
    let p = direct(cluster().primary()).await;
    let r = direct(&cluster().replicas()[0]).await;
    let lsn: String = match p.query_one("SELECT pg_current_wal_lsn()::text", &[]).await {
        Ok(row) => row.get(0),
        Err(e) => panic!("primary WAL position: {e}"),
    };
    let ok = eventually(Duration::from_secs(10), || async {
        match r
            .query_one(
                "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                &[&lsn],
            )
            .await
        {
            Ok(row) => row.get::<_, bool>(0),
            Err(e) => panic!("replica replay position: {e}"),
        }
    })
    .await;
    assert!(ok, "replica did not catch up");
}
