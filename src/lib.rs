//! pgsplit: a PostgreSQL read/write-splitting proxy.
//!
//! Data flows one way:
//!
//! ```text
//! server (accept) ─► session::handshake (startup, auth) ─► session::relay
//!      ─► route ─► pool (deadpool, per backend/user/database) ─► backend
//!                    ▲
//!                    └── topology task: probes → roles → watch<Arc<Topology>>
//! ```
//!
//! - [`protocol`]: bytes in, frames out; no I/O.
//! - [`auth`]: client-facing SCRAM-SHA-256 / md5.
//! - [`backend`]: one server connection (connect, authenticate, own queries).
//! - [`pool`]: deadpool pools of backend connections.
//! - [`session`]: one client: handshake, then the relay loop.
//! - [`topology`]: the only writer of backend roles and health.
//! - [`cluster`]: throwaway primary + replicas for `pgsplit demo` and tests.
//!
//! Everything is built in [`start`] and passed down; there is no global state.

pub mod auth;
pub mod backend;
pub mod cancel;
pub mod catalog;
pub mod classify;
pub mod cluster;
pub mod config;
pub mod error;
pub mod pool;
pub mod protocol;
pub mod rejoin;
pub mod route;
pub mod server;
pub mod session;
pub mod shared;
pub mod topology;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Credentials;
use crate::cancel::CancelRegistry;
use crate::config::Config;
use crate::pool::Pools;
use crate::shared::Shared;
use crate::topology::{Topology, TopologyRx};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

/// A running proxy.
pub struct Proxy {
    /// Where clients connect (the bound address, useful with port 0).
    pub addr: SocketAddr,
    pub topology: TopologyRx,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Proxy {
    /// Stops accepting and the topology task, then waits up to `grace` for
    /// sessions to end.
    pub async fn stop(self, grace: std::time::Duration) {
        self.shutdown.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(grace, self.tracker.wait()).await;
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// Builds every component from `config` and starts serving.
pub async fn start(config: Config) -> Result<Proxy, StartError> {
    let config = Arc::new(config);
    let listener = TcpListener::bind(&config.listen.addr)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.listen.addr.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.listen.addr.clone(),
        source,
    })?;

    let mut probes = topology::probes_for(&config);
    let first = topology::discover(&config, &mut probes).await;
    match (first.primary(), &first.write_refusal) {
        (Some(p), _) => {
            tracing::info!(primary = %p.addr, timeline = ?first.timeline, "topology discovered")
        }
        (None, Some(r)) => tracing::error!("no primary at start-up, writes refused: {r}"),
        (None, None) => {
            tracing::warn!("no primary found at start-up; writes fail until one appears")
        }
    }
    let (topo_tx, topo_rx) = watch::channel(Arc::new(first));

    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let pools = Arc::new(Pools::new(config.pool.clone()));
    tracker.spawn(topology::run(
        config.clone(),
        probes,
        topo_tx,
        pools.clone(),
        shutdown.clone(),
    ));
    let shared = Arc::new(Shared {
        creds: Credentials::from_config(&config),
        catalogs: crate::catalog::Catalogs::new(config.routing.clone()),
        config,
        pools,
        topology: topo_rx.clone(),
        cancels: Arc::new(CancelRegistry::default()),
    });
    tracker.spawn(server::serve(
        listener,
        shared,
        shutdown.clone(),
        tracker.clone(),
    ));
    tracing::info!(%addr, "pgsplit listening");
    Ok(Proxy {
        addr,
        topology: topo_rx,
        shutdown,
        tracker,
    })
}

/// Initial snapshot helper for tests and tools.
pub fn initial_topology(config: &Config) -> Topology {
    Topology::initial(config)
}
