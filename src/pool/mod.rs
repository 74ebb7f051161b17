//! Backend connection pools (deadpool), one per (backend, user, database).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool::managed::{self, Metrics, PoolError, RecycleError, RecycleResult, Timeouts};

use crate::backend::{self, BackendConn, ConnectParams};
use crate::config;
use crate::error::BackendError;
use crate::protocol::TxStatus;

pub type Pool = managed::Pool<Manager>;
/// A checked-out connection; dropping it returns it to its pool.
pub type Conn = managed::Object<Manager>;

#[derive(Debug)]
pub struct Manager {
    params: ConnectParams,
    idle_timeout: Duration,
}

impl managed::Manager for Manager {
    type Type = BackendConn;
    type Error = BackendError;

    async fn create(&self) -> Result<BackendConn, BackendError> {
        backend::connect(&self.params).await
    }

    async fn recycle(&self, conn: &mut BackendConn, m: &Metrics) -> RecycleResult<BackendError> {
        if conn.tx != TxStatus::Idle {
            return Err(RecycleError::message("returned inside a transaction"));
        }
        if m.last_used() > self.idle_timeout {
            return Err(RecycleError::message("idle too long"));
        }
        // A server that ended the connection (restart, idle timeout, admin
        // kill) has left EOF or a FATAL message in the socket: never hand
        // such a connection to a client.
        let mut probe = [0u8; 1];
        match conn.stream.try_read(&mut probe) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            _ => Err(RecycleError::message("closed by the server")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub backend: Arc<str>,
    pub user: String,
    pub database: String,
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

/// All pools, created on first use.
pub struct Pools {
    settings: config::Pool,
    pools: Mutex<HashMap<PoolKey, Pool>>,
}

impl Pools {
    pub fn new(settings: config::Pool) -> Pools {
        Pools {
            settings,
            pools: Mutex::new(HashMap::new()),
        }
    }

    fn pool(&self, key: &PoolKey, password: &str) -> Pool {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = pools.get(key) {
            return p.clone();
        }
        let manager = Manager {
            params: ConnectParams {
                addr: key.backend.clone(),
                user: key.user.clone(),
                password: password.to_owned(),
                database: key.database.clone(),
                startup: Vec::new(),
                timeout: self.settings.connect_timeout,
            },
            idle_timeout: self.settings.idle_timeout,
        };
        let timeouts = Timeouts {
            wait: Some(self.settings.checkout_timeout),
            create: Some(self.settings.connect_timeout),
            recycle: Some(Duration::from_secs(1)),
        };
        let pool = Pool::builder(manager)
            .max_size(self.settings.max_per_backend)
            .timeouts(timeouts)
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

    pub async fn checkout(&self, key: &PoolKey, password: &str) -> Result<Conn, CheckoutError> {
        let pool = self.pool(key, password);
        match pool.get().await {
            Ok(c) => Ok(c),
            Err(PoolError::Timeout(_)) => Err(CheckoutError::Timeout {
                backend: key.backend.clone(),
                waited: self.settings.checkout_timeout,
                max: self.settings.max_per_backend,
            }),
            Err(PoolError::Backend(e)) => Err(e.into()),
            Err(_) => Err(CheckoutError::Closed(key.backend.clone())),
        }
    }

    /// Closes idle connections past `idle_timeout`; run periodically.
    pub fn reap(&self) {
        let idle = self.settings.idle_timeout;
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
