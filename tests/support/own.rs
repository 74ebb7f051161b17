//! A cluster of the test's own, for tests that kill, promote and restart
//! servers (the shared one must stay whole), with a proxy config in front
//! of any list of backends (forwarders and blackholes included).

use pgsplit::cluster::{Cluster, ClusterOptions};
use pgsplit::config::Config;
use tokio_postgres::{Client, NoTls};

use super::PASSWORD;

/// Starts a primary with `replicas` replicas; `extra_conf` lines go to
/// every node's postgresql.conf.
pub fn cluster(replicas: usize, extra_conf: &[&str]) -> Cluster {
    super::init_tracing();
    let opts = ClusterOptions {
        replicas,
        password: PASSWORD.into(),
        extra_conf: extra_conf.iter().map(|l| l.to_string()).collect(),
        ..ClusterOptions::default()
    };
    Cluster::start(opts).unwrap_or_else(|e| panic!("cannot start the test cluster: {e}"))
}

/// The proxy config for `backends`, with short timeouts so a dead server
/// is noticed quickly; `extra` is appended (it may continue `[health]`).
pub fn config(backends: &[String], extra: &str) -> Config {
    let list: String = backends
        .iter()
        .map(|a| format!("[[backends]]\naddr = \"{a}\"\n"))
        .collect();
    let text = format!(
        "[listen]\naddr = \"127.0.0.1:0\"\n[admin]\naddr = \"127.0.0.1:0\"\n{list}\
         [[users]]\nname = \"app\"\npassword = \"{PASSWORD}\"\n\
         [pool]\ncheckout_timeout = \"2s\"\nconnect_timeout = \"1s\"\n\
         [health]\ninterval = \"200ms\"\ntimeout = \"1s\"\ndatabase = \"app\"\n{extra}"
    );
    Config::parse(&text).unwrap_or_else(|e| panic!("test config: {e}"))
}

/// Every node's address, primary first.
pub fn addrs(c: &Cluster) -> Vec<String> {
    c.nodes().iter().map(|n| n.addr().to_string()).collect()
}

/// A client through the proxy on `port`; connecting is bounded too.
pub async fn try_client(port: u16) -> Result<Client, tokio_postgres::Error> {
    let info = format!(
        "host=127.0.0.1 port={port} user=app password={PASSWORD} dbname=app connect_timeout=5"
    );
    let (client, conn) = tokio_postgres::connect(&info, NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

pub async fn client(port: u16) -> Client {
    try_client(port)
        .await
        .unwrap_or_else(|e| panic!("connect through the proxy: {e}"))
}

/// Runs a blocking node operation without stalling the proxy's tasks.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}
