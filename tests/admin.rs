//! Admin HTTP, metrics, reload and graceful drain against a real cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::time::Duration;

use pgsplit::admin::client;
use support::*;
use tokio_postgres::NoTls;

fn admin(p: &TestProxy) -> String {
    match &p.proxy {
        Some(proxy) => proxy.admin_addr.to_string(),
        None => panic!("proxy stopped"),
    }
}

async fn get(addr: &str, path: &str) -> client::Reply {
    client::get(addr, path, None)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// A strict reading of the text exposition: every sample belongs to a
/// family declared with HELP and TYPE, label syntax is well formed, values
/// are numbers, and the text ends with `# EOF`. Returns name{labels} → value.
fn parse_strict(text: &str) -> Vec<(String, f64)> {
    let mut families: HashSet<String> = HashSet::new();
    let mut samples = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"# EOF"),
        "exposition must end with # EOF"
    );
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            assert!(name.starts_with("pgsplit_"), "unprefixed family: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let (name, kind) = (it.next().unwrap(), it.next().unwrap());
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "type {kind} in {line}"
            );
            families.insert(name.to_owned());
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment: {line}");
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let name = series.split('{').next().unwrap();
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                let inner = labels
                    .strip_prefix('{')
                    .and_then(|l| l.strip_suffix('}'))
                    .unwrap_or_else(|| panic!("bad labels in {line}"));
                for pair in inner.split(',') {
                    let (k, v) = pair.split_once('=').unwrap();
                    assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                    assert!(v.starts_with('"') && v.ends_with('"'), "{line}");
                }
            }
        }
        let family = ["_total", "_bucket", "_sum", "_count", ""]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find(|f| families.contains(*f));
        assert!(family.is_some(), "sample without a family: {line}");
        samples.push((series.to_owned(), value));
    }
    samples
}

fn value(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(s, _)| s == series)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no sample {series}"))
}

async fn scrape(addr: &str) -> Vec<(String, f64)> {
    let r = get(addr, "/metrics").await;
    assert_eq!(r.status, 200);
    // A standard exposition parser must read it too.
    let scrape = prometheus_parse::Scrape::parse(r.body.lines().map(|l| Ok(l.to_owned())))
        .expect("prometheus-parse");
    assert!(!scrape.samples.is_empty());
    parse_strict(&r.body)
}

#[tokio::test]
async fn metrics_parse_and_move_with_traffic() {
    let p = proxy().await;
    let addr = admin(&p);
    let before = scrape(&addr).await;
    let c = p.client().await;
    for _ in 0..5 {
        c.simple_query("SELECT 1").await.unwrap();
    }
    let after = scrape(&addr).await;
    for series in [
        "pgsplit_client_connections_total",
        "pgsplit_client_bytes_received_total",
        "pgsplit_client_bytes_sent_total",
        "pgsplit_statement_duration_seconds_count",
        "pgsplit_pool_checkout_wait_seconds_count",
    ] {
        assert!(
            value(&after, series) > value(&before, series),
            "{series} did not move"
        );
    }
    assert!(value(&after, "pgsplit_client_connections_active") >= 1.0);
    assert_eq!(value(&after, "pgsplit_primary_known"), 1.0);
    let primary = cluster().primary().addr();
    let role = format!("pgsplit_backend_role{{backend=\"{primary}\",role=\"primary\"}}");
    assert_eq!(value(&after, &role), 1.0);
    let up = format!("pgsplit_backend_up{{backend=\"{primary}\"}}");
    assert_eq!(value(&after, &up), 1.0);
    let pool = format!("pgsplit_pool_connections_in_use{{backend=\"{primary}\"}}");
    assert!(value(&after, &pool) >= 1.0);
    // A wrong password is counted as refused for auth.
    let bad = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user={USER} password=wrong dbname={DATABASE}",
            p.port
        ),
        NoTls,
    )
    .await;
    assert!(bad.is_err());
    let later = scrape(&addr).await;
    assert_eq!(
        value(
            &later,
            "pgsplit_client_connections_refused_total{reason=\"auth\"}"
        ),
        1.0
    );
    p.stop().await;
}

#[tokio::test]
async fn health_ready_and_status() {
    let p = proxy().await;
    let addr = admin(&p);
    assert_eq!(get(&addr, "/health").await.status, 200);
    let ready = get(&addr, "/ready").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let _c = p.client().await;
    let status = get(&addr, "/status").await;
    assert_eq!(status.status, 200);
    let v: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(v["primary"], cluster().primary().addr().to_string());
    assert_eq!(v["backends"].as_array().unwrap().len(), 2);
    assert_eq!(v["backends"][0]["role"], "primary");
    assert_eq!(v["clients"]["active"], 1);
    assert!(!v["pools"].as_array().unwrap().is_empty());
    p.stop().await;
}

#[tokio::test]
async fn ready_is_503_without_a_primary() {
    // Only the replica is configured: no writable primary.
    let replica = cluster().replicas()[0].addr().to_string();
    let p = proxy_with(|c| {
        c.backends.retain(|b| b.addr == replica);
    })
    .await;
    let addr = admin(&p);
    assert_eq!(get(&addr, "/ready").await.status, 503);
    assert_eq!(get(&addr, "/health").await.status, 200);
    p.stop().await;
}

#[tokio::test]
async fn token_guards_everything_but_health() {
    let p = proxy_with(|c| c.admin.token = Some("s3cret".into())).await;
    let addr = admin(&p);
    assert_eq!(get(&addr, "/health").await.status, 200);
    for path in ["/metrics", "/status", "/ready"] {
        assert_eq!(get(&addr, path).await.status, 401, "{path}");
        let wrong = client::get(&addr, path, Some("nope")).await.unwrap();
        assert_eq!(wrong.status, 401, "{path}");
        let ok = client::get(&addr, path, Some("s3cret")).await.unwrap();
        assert_eq!(ok.status, 200, "{path}");
    }
    assert_eq!(
        client::post(&addr, "/reload", None).await.unwrap().status,
        401
    );
    p.stop().await;
}

async fn connect_as(
    port: u16,
    user: &str,
    password: &str,
) -> Result<tokio_postgres::Client, String> {
    let info =
        format!("host=127.0.0.1 port={port} user={user} password={password} dbname={DATABASE}");
    match tokio_postgres::connect(&info, NoTls).await {
        Ok((c, conn)) => {
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(c)
        }
        Err(e) => Err(e
            .code()
            .map(|c| c.code().to_owned())
            .unwrap_or(e.to_string())),
    }
}

#[tokio::test]
async fn reload_adds_a_user_without_dropping_clients() {
    cluster()
        .primary()
        .psql(&format!(
            "DO $$ BEGIN CREATE ROLE reloaded LOGIN PASSWORD '{PASSWORD}'; \
             EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        ))
        .unwrap();
    let dir = std::env::temp_dir().join(format!("pgsplit-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("proxy.toml");
    let text = config_text();
    std::fs::write(&file, &text).unwrap();
    let config = pgsplit::config::Config::load(&file).unwrap();
    let proxy = pgsplit::start(config).await.unwrap();
    let port = proxy.addr.port();
    let addr = proxy.admin_addr.to_string();

    let running = connect_as(port, USER, PASSWORD).await.unwrap();
    running.batch_execute("BEGIN; SELECT 1").await.unwrap();
    assert_eq!(
        connect_as(port, "reloaded", PASSWORD)
            .await
            .err()
            .as_deref(),
        Some("28P01")
    );

    // A bad file is rejected whole; the old config stays.
    std::fs::write(&file, format!("{text}\n[pool]\nmax_per_backend = 0\n")).unwrap();
    let r = client::post(&addr, "/reload", None).await.unwrap();
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("max_per_backend"), "{}", r.body);
    assert!(connect_as(port, USER, PASSWORD).await.is_ok());

    // A good one adds the user; the running client goes on in its transaction.
    let added = format!(
        "{}\n[[users]]\nname = \"reloaded\"\npassword = \"{PASSWORD}\"\n",
        text.replace("127.0.0.1:0", "127.0.0.1:1")
    );
    std::fs::write(&file, added).unwrap();
    let report = proxy.reload().await.unwrap();
    assert!(report.changed.contains(&"users".to_string()), "{report:?}");
    assert!(
        report.restart_needed.contains(&"listen.addr".to_string()),
        "{report:?}"
    );
    let newcomer = connect_as(port, "reloaded", PASSWORD).await.unwrap();
    newcomer.simple_query("SELECT 1").await.unwrap();
    running.batch_execute("SELECT 2; COMMIT").await.unwrap();
    assert!(!running.is_closed());
    proxy.stop(Duration::from_secs(2)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Connects and keeps the connection task's result, to see how it ended.
async fn watched(
    port: u16,
) -> (
    tokio_postgres::Client,
    tokio::task::JoinHandle<Option<String>>,
) {
    let info =
        format!("host=127.0.0.1 port={port} user={USER} password={PASSWORD} dbname={DATABASE}");
    let (c, conn) = tokio_postgres::connect(&info, NoTls).await.unwrap();
    let ended = tokio::spawn(async move {
        conn.await.err().map(|e| {
            e.code()
                .map(|c| c.code().to_owned())
                .unwrap_or(e.to_string())
        })
    });
    (c, ended)
}

#[tokio::test]
async fn drain_finishes_transactions_and_tells_idle_clients() {
    let p = proxy_with(|c| c.listen.shutdown_timeout = Duration::from_secs(20)).await;
    let proxy = p.proxy.unwrap();
    let port = proxy.addr.port();
    let addr = proxy.admin_addr.to_string();
    let (busy, busy_end) = watched(port).await;
    let (_idle, idle_end) = watched(port).await;
    busy.batch_execute("BEGIN; SELECT 1").await.unwrap();

    proxy.begin_drain();
    assert_eq!(get(&addr, "/health").await.status, 503);
    // The idle client is told why, at once.
    let idle = tokio::time::timeout(Duration::from_secs(5), idle_end)
        .await
        .expect("idle client not ended")
        .unwrap();
    assert_eq!(idle.as_deref(), Some("57P01"));
    // No new clients.
    assert!(tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user={USER} password={PASSWORD} dbname={DATABASE}"),
        NoTls
    )
    .await
    .is_err());
    // The transaction in flight finishes; then that session ends too.
    let rows = busy.simple_query("SELECT 2").await.unwrap();
    assert!(!rows.is_empty());
    busy.batch_execute("COMMIT").await.unwrap();
    let busy_ended = tokio::time::timeout(Duration::from_secs(5), busy_end)
        .await
        .expect("busy client not ended after its transaction")
        .unwrap();
    assert_eq!(busy_ended.as_deref(), Some("57P01"));
    let drained = tokio::time::timeout(Duration::from_secs(10), proxy.drain())
        .await
        .expect("drain did not finish");
    assert!(drained, "every session ended within shutdown_timeout");
}

#[test]
fn dashboard_uses_only_registered_metrics() {
    // Families without samples yet are not exported, so compare with the
    // names registered in the source.
    let source = include_str!("../src/admin/metrics.rs");
    let dashboard = include_str!("../grafana/pgsplit.json");
    let _: serde_json::Value = serde_json::from_str(dashboard).unwrap();
    let mut used = 0;
    for (i, _) in dashboard.match_indices("pgsplit_") {
        let name: String = dashboard[i + "pgsplit_".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let registered = ["_bucket", "_total", ""]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .any(|f| source.contains(&format!("\"{f}\",")));
        assert!(registered, "dashboard uses unknown metric pgsplit_{name}");
        used += 1;
    }
    assert!(used > 20);
}
