//! Backend connection pools, one per (backend, user, database).

mod checkout;
mod conn;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::admin::metrics::Metrics as ProxyMetrics;
use crate::auth::BackendAuth;
use crate::backend::ConnectParams;
use crate::config;
use crate::error::BackendError;
use crate::tls::backend::BackendTls;
use checkout::Limits;
pub use checkout::Pool;
pub use conn::Conn;

/// How often pools are looked after (see [`Pools::maintain`]).
pub const TICK: Duration = Duration::from_millis(100);

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
    /// The `[pool]` limits a new pool starts with; replaced on reload.
    limits: Mutex<Limits>,
    /// TLS settings per backend address; replaced on reload.
    tls: Mutex<HashMap<String, Arc<BackendTls>>>,
    /// Looked up on every checkout (foldhash: the keys are config names).
    pools: Mutex<HashMap<PoolKey, Arc<Pool>, foldhash::fast::RandomState>>,
    metrics: Arc<ProxyMetrics>,
}

impl Pools {
    pub fn new(settings: &config::Pool, metrics: Arc<ProxyMetrics>) -> Pools {
        Pools {
            limits: Mutex::new(Limits::from(settings)),
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
                p.close();
            }
            pools.clear();
        }
    }

    fn pool(&self, key: &PoolKey, auth: &BackendAuth) -> Arc<Pool> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        match pools.get(key) {
            Some(p) if p.params.auth.same_as(auth) => return p.clone(),
            // New credentials for this user (auth_query saw another
            // verifier): the old pool's connections close when given back.
            Some(p) => p.close(),
            None => {}
        }
        let limits = *self.limits.lock().unwrap_or_else(|p| p.into_inner());
        let params = ConnectParams {
            addr: key.backend.clone(),
            user: key.user.to_string(),
            auth: auth.clone(),
            database: key.database.to_string(),
            startup: Vec::new(),
            timeout: limits.connect_timeout,
            tls: self.tls_for(&key.backend),
        };
        let pool = Arc::new(Pool::new(params, limits));
        pools.insert(key.clone(), pool.clone());
        pool
    }

    pub async fn checkout(&self, key: &PoolKey, auth: &BackendAuth) -> Result<Conn, CheckoutError> {
        self.checkout_with(key, auth, &mut None).await
    }

    /// [`Pools::checkout`] from `cache`, the pool the caller used last for
    /// this key's role, while it is still the one for `key`; `cache` is
    /// updated otherwise.
    pub async fn checkout_with(
        &self,
        key: &PoolKey,
        auth: &BackendAuth,
        cache: &mut Option<Arc<Pool>>,
    ) -> Result<Conn, CheckoutError> {
        let pool = match cache {
            Some(p) if p.params.addr == key.backend => p.clone(),
            _ => cache.insert(self.pool(key, auth)).clone(),
        };
        match pool.checkout(&self.metrics).await {
            // Forgotten while waiting (reload, new credentials): once more,
            // in the pool that replaced it.
            Err(CheckoutError::Closed(_)) => {
                let pool = cache.insert(self.pool(key, auth)).clone();
                pool.checkout(&self.metrics).await
            }
            got => got,
        }
    }

    fn all(&self) -> Vec<Arc<Pool>> {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.values().cloned().collect()
    }

    /// Pool upkeep, until `shutdown`: every [`TICK`], checkouts waiting past
    /// `checkout_timeout` fail with 53300 and idle connections past
    /// `idle_timeout` or `server_lifetime` close. One task for all pools
    /// instead of a timer per waiting checkout: the timeout is kept to
    /// within a tick, and a saturated pool's hot path arms no timer.
    pub async fn maintain(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = Instant::now();
            for p in self.all() {
                p.expire_waiters(now);
                p.reap(now);
            }
        }
    }

    /// Drops every idle connection to `backend` (after a failover or fence).
    pub fn drain_backend(&self, backend: &str) {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        for (k, p) in pools.iter() {
            if &*k.backend == backend {
                p.clear();
            }
        }
    }

    /// Applies reloaded settings: new limits and timeouts for every pool;
    /// pools of a user whose password changed, or of a backend no longer
    /// configured, are forgotten (their connections close as sessions give
    /// them back, so no client is cut off).
    pub fn reconfigure(
        &self,
        settings: &config::Pool,
        changed_users: &[String],
        backends: &[&str],
    ) {
        let limits = Limits::from(settings);
        *self.limits.lock().unwrap_or_else(|p| p.into_inner()) = limits;
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.retain(|k, p| {
            let keep =
                !changed_users.iter().any(|u| **u == *k.user) && backends.contains(&&*k.backend);
            if keep {
                p.set_limits(limits);
            } else {
                p.close();
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
                let c = p.counts();
                PoolStatus {
                    backend: k.backend.clone(),
                    user: k.user.to_string(),
                    database: k.database.to_string(),
                    size: c.size,
                    idle: c.idle,
                    waiting: c.waiting,
                    max: c.max,
                }
            })
            .collect()
    }
}
