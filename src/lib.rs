//! pgsplit: a PostgreSQL read/write-splitting proxy.
//!
//! Data flows one way:
//!
//! ```text
//! server (accept) ─► session::handshake (startup, auth) ─► session::relay
//!      ─► route ─► pool (per backend/user/database) ─► backend
//!                    ▲
//!                    └── topology task: probes → roles → watch<Arc<Topology>>
//! ```
//!
//! - [`protocol`]: bytes in, frames out; no I/O.
//! - [`auth`]: client-facing SCRAM-SHA-256 / md5.
//! - [`backend`]: one server connection (connect, authenticate, own queries).
//! - [`pool`]: pools of backend connections (idle stack, FIFO waiters).
//! - [`session`]: one client: handshake, then the relay loop.
//! - [`topology`]: the only writer of backend roles and health.
//! - [`admin`]: HTTP endpoints (/health /ready /status /metrics /reload) and
//!   the Prometheus [`admin::metrics::Metrics`], passed in, never global.
//! - [`reload`]: SIGHUP / `POST /reload`: validate whole, then swap.
//! - [`cluster`]: throwaway primary + replicas for `pgsplit demo` and tests.
//!
//! Everything is built in [`start`] and passed down; there is no global state.

pub mod admin;
pub mod auth;
pub mod backend;
pub mod cancel;
pub mod catalog;
pub mod classify;
pub mod cluster;
pub mod config;
pub mod error;
pub mod net;
pub mod pool;
pub mod protocol;
pub mod rejoin;
pub mod reload;
pub mod route;
pub mod server;
pub mod session;
pub mod shared;
pub mod signal;
pub mod tls;
pub mod topology;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::http::AdminState;
use crate::admin::metrics::Metrics;
use crate::auth::Credentials;
use crate::cancel::CancelRegistry;
use crate::config::Config;
use crate::pool::Pools;
use crate::reload::{ReloadError, ReloadReport, Reloader};
use crate::shared::Shared;
use crate::topology::{Topology, TopologyRx};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("[tls]: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("backend {addr}: TLS settings unusable: {message}")]
    BackendTls { addr: String, message: String },
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
    /// Where the admin HTTP endpoint listens (bound address).
    pub admin_addr: SocketAddr,
    pub topology: TopologyRx,
    pub metrics: Arc<Metrics>,
    shared: Arc<Shared>,
    reloader: Arc<Reloader>,
    shutdown: CancellationToken,
    /// Topology, admin and listener tasks.
    tracker: TaskTracker,
    /// One task per client connection.
    sessions: TaskTracker,
}

impl Proxy {
    /// Stops accepting and the topology task, then waits up to `grace` for
    /// sessions to end.
    pub async fn stop(self, grace: Duration) {
        self.shutdown.cancel();
        self.tracker.close();
        self.sessions.close();
        let _ = tokio::time::timeout(grace, async {
            self.sessions.wait().await;
            self.tracker.wait().await;
        })
        .await;
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Begins a graceful shutdown: the listener closes, `/health` turns 503,
    /// idle sessions get 57P01 now and busy ones when their transaction ends.
    pub fn begin_drain(&self) {
        if !self.shared.drain.fired() {
            tracing::warn!(
                sessions = self.shared.clients.get(),
                "draining: no new clients; sessions end as their transactions finish"
            );
        }
        self.shared.metrics.set_draining();
        self.shared.drain.fire();
    }

    /// Drains (see [`Proxy::begin_drain`]), waits up to `[listen]
    /// shutdown_timeout` for sessions, then stops. True when every session
    /// ended in time.
    pub async fn drain(self) -> bool {
        self.begin_drain();
        self.sessions.close();
        let grace = self.shared.config.load().listen.shutdown_timeout;
        let done = tokio::time::timeout(grace, self.sessions.wait())
            .await
            .is_ok();
        if done {
            tracing::info!("drained: every session ended");
        } else {
            tracing::warn!(
                sessions = self.shared.clients.get(),
                ?grace,
                "shutdown_timeout reached; closing the sessions still open"
            );
        }
        self.stop(Duration::from_secs(1)).await;
        done
    }

    /// Re-reads the config file (like SIGHUP).
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        self.reloader.reload().await
    }

    /// Client sessions open now.
    pub fn clients(&self) -> usize {
        self.shared.clients.get()
    }
}

/// Builds every component from `config` and starts serving.
pub async fn start(config: Config) -> Result<Proxy, StartError> {
    let config = Arc::new(config);
    let client_tls = tls::server::ClientTls::from_config(&config.tls)?;
    let backend_tls = tls::backend::BackendTls::for_config(&config);
    if let Some((addr, message)) = backend_tls
        .iter()
        .find_map(|(a, t)| t.problem().map(|m| (a.clone(), m)))
    {
        return Err(StartError::BackendTls { addr, message });
    }
    let bind = |addr: &str| {
        let addr = addr.to_owned();
        async move {
            let listener = TcpListener::bind(&addr)
                .await
                .map_err(|source| StartError::Listen {
                    addr: addr.clone(),
                    source,
                })?;
            let local = listener
                .local_addr()
                .map_err(|source| StartError::Listen { addr, source })?;
            Ok::<_, StartError>((listener, local))
        }
    };
    let (listener, addr) = bind(&config.listen.addr).await?;
    let (admin_listener, admin_addr) = bind(&config.admin.addr).await?;

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
    let (config_tx, config_rx) = watch::channel(config.clone());

    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let sessions = TaskTracker::new();
    let metrics = Arc::new(Metrics::new());
    let pools = Arc::new(Pools::new(&config.pool, metrics.clone()));
    pools.set_tls(backend_tls);
    tracker.spawn(pools.clone().maintain(shutdown.clone()));
    tracker.spawn(topology::run(
        config_rx,
        probes,
        topo_tx,
        pools.clone(),
        shutdown.clone(),
    ));
    let abandon = Arc::new(signal::Signal::default());
    tracker.spawn(topology::abandon::follow(
        topo_rx.clone(),
        metrics.clone(),
        abandon.clone(),
        shutdown.clone(),
    ));
    let shared = Arc::new(Shared {
        creds: ArcSwap::from_pointee(Credentials::from_config(&config)),
        client_tls: ArcSwap::from_pointee(client_tls),
        auth_cache: Default::default(),
        catalogs: crate::catalog::Catalogs::new(config.routing.clone()),
        global_lsn: Default::default(),
        config: ArcSwap::new(config),
        pools,
        topology: topo_rx.clone(),
        cancels: Arc::new(CancelRegistry::default()),
        metrics: metrics.clone(),
        drain: Default::default(),
        abandon,
        clients: Default::default(),
        greetings: Default::default(),
    });
    let reloader = Arc::new(Reloader::new(shared.clone(), config_tx));
    tracker.spawn(admin::http::serve(
        admin_listener,
        AdminState {
            shared: shared.clone(),
            reloader: reloader.clone(),
        },
        shutdown.clone(),
    ));
    tracker.spawn(server::serve(
        listener,
        shared.clone(),
        shutdown.clone(),
        sessions.clone(),
    ));
    tracing::info!(%addr, admin = %admin_addr, "pgsplit listening");
    Ok(Proxy {
        addr,
        admin_addr,
        topology: topo_rx,
        metrics,
        shared,
        reloader,
        shutdown,
        tracker,
        sessions,
    })
}

/// Initial snapshot helper for tests and tools.
pub fn initial_topology(config: &Config) -> Topology {
    Topology::initial(config)
}
