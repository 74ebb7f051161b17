//! `pgsplit demo`: a throwaway primary + streaming replica from the local
//! PostgreSQL binaries, and the proxy in front of them.

use std::process::ExitCode;

use pgsplit::cluster::{Cluster, ClusterOptions};
use pgsplit::config::Config;

pub async fn run(listen: String) -> ExitCode {
    eprintln!("pgsplit demo: starting a PostgreSQL primary and a streaming replica…");
    let started = tokio::task::spawn_blocking(|| Cluster::start(ClusterOptions::default())).await;
    let cluster = match started {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            eprintln!("pgsplit demo: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("pgsplit demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = cluster.options().clone();
    let backends: String = cluster
        .nodes()
        .iter()
        .map(|n| format!("[[backends]]\naddr = \"{}\"\n", n.addr()))
        .collect();
    let text = format!(
        "[listen]\naddr = \"{listen}\"\n\n[admin]\naddr = \"127.0.0.1:9930\"\n\n{backends}\n\
         [[users]]\nname = \"{}\"\npassword = \"{}\"\n",
        opts.user, opts.password
    );
    let config = match Config::parse(&text) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pgsplit demo: generated config is invalid: {e}");
            return ExitCode::FAILURE;
        }
    };
    let proxy = match pgsplit::start(config).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("pgsplit demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let url = format!(
        "postgres://{}:{}@{}/{}",
        opts.user, opts.password, proxy.addr, opts.database
    );
    let mut banner = format!(
        "pgsplit demo is up.\n\n  primary:  {}  ({})\n",
        cluster.primary().addr(),
        cluster.primary().data_dir.display()
    );
    for r in cluster.replicas() {
        banner += &format!("  replica:  {}  ({})\n", r.addr(), r.data_dir.display());
    }
    banner += &format!(
        "  proxy:    {}\n\nConnect with:\n  psql \"{url}\"\n\n\
         Configuration in use:\n{text}\n\
         Press Ctrl-C to stop; everything above is removed.\n",
        proxy.addr
    );
    // The demo runs on when nobody reads its banner.
    let _ = crate::output::print(&banner, ExitCode::SUCCESS);
    crate::wait_for_signal().await;
    eprintln!("pgsplit demo: stopping");
    proxy.stop(std::time::Duration::from_secs(5)).await;
    let _ = tokio::task::spawn_blocking(move || drop(cluster)).await;
    ExitCode::SUCCESS
}
