//! Backend connection pools (deadpool), one per (backend, user, database).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool::managed::{self, Metrics, PoolError, RecycleError, RecycleResult, Timeouts};

use crate::admin::metrics::Metrics as ProxyMetrics;
use crate::auth::BackendAuth;
use crate::backend::{self, BackendConn, ConnectParams};
use crate::config;
use crate::error::BackendError;
use crate::protocol::TxStatus;
use crate::tls::backend::BackendTls;

pub type Pool = managed::Pool<Manager>;
/// A checked-out connection; dropping it returns it to its pool.
pub type Conn = managed::Object<Manager>;

#[derive(Debug)]
pub struct Manager {
    params: ConnectParams,
    idle_timeout: Duration,
    /// Connections older than this are replaced (`server_lifetime`).
    lifetime: Duration,
}

impl managed::Manager for Manager {
    /// Boxed: a pooled connection moves through checkout, the session and
    /// back on every transaction in transaction mode, and a pointer moves
    /// for free where the whole struct cost a few hundred bytes of copying.
    type Type = Box<BackendConn>;
    type Error = BackendError;

    async fn create(&self) -> Result<Box<BackendConn>, BackendError> {
        // Boxed: the connect future (TLS, SCRAM) is large, and inline it
        // would make every checkout's future as large, copied on each call.
        Box::pin(backend::connect(&self.params)).await.map(Box::new)
    }

    async fn recycle(
        &self,
        conn: &mut Box<BackendConn>,
        m: &Metrics,
    ) -> RecycleResult<BackendError> {
        if conn.tx != TxStatus::Idle {
            return Err(RecycleError::message("returned inside a transaction"));
        }
        if m.last_used() > self.idle_timeout {
            return Err(RecycleError::message("idle too long"));
        }
        if conn.created.elapsed() >= self.lifetime {
            return Err(RecycleError::message("past server_lifetime"));
        }
        // A server that ended the connection (restart, idle timeout, admin
        // kill) has left EOF or a FATAL message in the socket: never hand
        // such a connection to a client.
        let mut probe = [0u8; 1];
        // (On TLS this reads the raw socket under rustls: anything there
        // now is unasked-for, and the connection is dropped either way.)
        match conn.stream.tcp().try_read(&mut probe) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            _ => Err(RecycleError::message("closed by the server")),
        }
    }
}

fn timeouts(settings: &config::Pool) -> Timeouts {
    Timeouts {
        wait: Some(settings.checkout_timeout),
        create: Some(settings.connect_timeout),
        // Recycling only looks at the socket without waiting (see
        // `Manager::recycle`): no timer to arm on every checkout.
        recycle: None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub backend: Arc<str>,
    pub user: Arc<str>,
    pub database: Arc<str>,
}

/// Why a checkout failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error(
        "pgsplit: no connection to backend {backend} became free within {waited:?} (pool of {max})"
    )]
    Timeout {
        backend: Arc<str>,
        waited: Duration,
        max: usize,
    },
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("pgsplit: pool for backend {0} is closed")]
    Closed(Arc<str>),
}

impl CheckoutError {
    pub fn sqlstate(&self) -> &str {
        match self {
            CheckoutError::Timeout { .. } => "53300",
            CheckoutError::Backend(e) => e.sqlstate(),
            CheckoutError::Closed(_) => "08006",
        }
    }
}

/// One pool's state, for `/status` and metrics.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PoolStatus {
    pub backend: Arc<str>,
    pub user: String,
    pub database: String,
    pub size: usize,
    pub idle: usize,
    pub waiting: usize,
    pub max: usize,
}

/// All pools, created on first use.
pub struct Pools {
    /// Replaced on reload; read once per checkout.
    settings: Mutex<config::Pool>,
    /// TLS settings per backend address; replaced on reload.
    tls: Mutex<HashMap<String, Arc<BackendTls>>>,
    /// Looked up on every checkout (foldhash: the keys are config names).
    pools: Mutex<HashMap<PoolKey, Pool, foldhash::fast::RandomState>>,
    metrics: Arc<ProxyMetrics>,
}

impl Pools {
    pub fn new(settings: config::Pool, metrics: Arc<ProxyMetrics>) -> Pools {
        Pools {
            settings: Mutex::new(settings),
            tls: Mutex::new(HashMap::new()),
            pools: Mutex::new(HashMap::default()),
            metrics,
        }
    }

    pub fn tls_for(&self, backend: &str) -> Option<Arc<BackendTls>> {
        let tls = self.tls.lock().unwrap_or_else(|p| p.into_inner());
        tls.get(backend).cloned()
    }

    /// Sets the backend TLS settings; when they changed, every pool is
    /// forgotten so new connections use them (connections in use close when
    /// given back).
    pub fn set_tls(&self, tls: HashMap<String, Arc<BackendTls>>) {
        let changed = {
            let mut cur = self.tls.lock().unwrap_or_else(|p| p.into_inner());
            let same = cur.len() == tls.len()
                && cur
                    .iter()
                    .all(|(k, v)| tls.get(k).is_some_and(|n| n.same_as(v)));
            *cur = tls;
            !same
        };
        if changed {
            let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
            for p in pools.values() {
                p.retain(|_, _| false);
            }
            pools.clear();
        }
    }

    fn settings(&self) -> config::Pool {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn pool(&self, key: &PoolKey, auth: &BackendAuth) -> Pool {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        match pools.get(key) {
            Some(p) if p.manager().params.auth.same_as(auth) => return p.clone(),
            // New credentials for this user (auth_query saw another
            // verifier): the old pool's connections close when given back.
            Some(p) => drop(p.retain(|_, _| false)),
            None => {}
        }
        let settings = self.settings();
        let manager = Manager {
            params: ConnectParams {
                addr: key.backend.clone(),
                user: key.user.to_string(),
                auth: auth.clone(),
                database: key.database.to_string(),
                startup: Vec::new(),
                timeout: settings.connect_timeout,
                tls: self.tls_for(&key.backend),
            },
            idle_timeout: settings.idle_timeout,
            lifetime: settings.server_lifetime,
        };
        let pool = Pool::builder(manager)
            .max_size(settings.max_per_backend)
            // The most recently used connection first, as PgBouncer does:
            // its server process and buffers are warm, and connections
            // beyond what the load needs go idle and are reaped.
            .queue_mode(managed::QueueMode::Lifo)
            .timeouts(timeouts(&settings))
            .runtime(deadpool::Runtime::Tokio1)
            .build();
        let pool = match pool {
            Ok(p) => p,
            // Only fails without a runtime for the timeouts, which we set.
            Err(e) => unreachable!("deadpool builder: {e}"),
        };
        pools.insert(key.clone(), pool.clone());
        pool
    }

    pub async fn checkout(&self, key: &PoolKey, auth: &BackendAuth) -> Result<Conn, CheckoutError> {
        let pool = self.pool(key, auth);
        let settings = self.settings();
        // A free connection first, without arming a timer or reading the
        // clock: the semaphore is fair, so a permit is only free when no
        // checkout is queued.
        let mut now = timeouts(&settings);
        now.wait = Some(Duration::ZERO);
        let got = match pool.timeout_get(&now).await {
            Err(PoolError::Timeout(managed::TimeoutType::Wait)) => {
                let began = std::time::Instant::now();
                let got = {
                    let _waiting = self.metrics.checkout_waiting();
                    pool.timeout_get(&timeouts(&settings)).await
                };
                self.metrics.checkout_wait(began.elapsed());
                got
            }
            got => {
                self.metrics.checkout_wait(Duration::ZERO);
                got
            }
        };
        match got {
            Ok(c) => Ok(c),
            Err(PoolError::Timeout(_)) => Err(CheckoutError::Timeout {
                backend: key.backend.clone(),
                waited: settings.checkout_timeout,
                max: settings.max_per_backend,
            }),
            Err(PoolError::Backend(e)) => Err(e.into()),
            Err(_) => Err(CheckoutError::Closed(key.backend.clone())),
        }
    }

    /// Closes idle connections past `idle_timeout`; run periodically.
    pub fn reap(&self) {
        let idle = self.settings().idle_timeout;
        let pools: Vec<Pool> = {
            let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
            pools.values().cloned().collect()
        };
        for p in pools {
            p.retain(|_, m| m.last_used() < idle);
        }
    }

    /// Drops every idle connection to `backend` (after a failover or fence).
    pub fn drain_backend(&self, backend: &str) {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        for (k, p) in pools.iter() {
            if &*k.backend == backend {
                p.retain(|_, _| false);
            }
        }
    }

    /// Applies reloaded settings: new limits and timeouts for every pool;
    /// pools of a user whose password changed, or of a backend no longer
    /// configured, are forgotten (their connections close as sessions give
    /// them back, so no client is cut off).
    pub fn reconfigure(&self, settings: config::Pool, changed_users: &[String], backends: &[&str]) {
        let max = settings.max_per_backend;
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = settings;
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.retain(|k, p| {
            let keep =
                !changed_users.iter().any(|u| **u == *k.user) && backends.contains(&&*k.backend);
            if keep {
                p.resize(max);
            } else {
                p.retain(|_, _| false);
            }
            keep
        });
    }

    /// Every pool's state, for `/status` and metrics.
    pub fn status(&self) -> Vec<PoolStatus> {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools
            .iter()
            .map(|(k, p)| {
                let s = p.status();
                PoolStatus {
                    backend: k.backend.clone(),
                    user: k.user.to_string(),
                    database: k.database.to_string(),
                    size: s.size,
                    idle: s.available,
                    waiting: s.waiting,
                    max: s.max_size,
                }
            })
            .collect()
    }

    /// (backend, size, available) for each pool, for status and metrics.
    pub fn stats(&self) -> Vec<(PoolKey, usize, usize)> {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools
            .iter()
            .map(|(k, p)| {
                let s = p.status();
                (k.clone(), s.size, s.available)
            })
            .collect()
    }
}
