//! `[pool]`: backend connection pools, and how long a client keeps a connection.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long a client keeps a backend connection.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PoolMode {
    /// For the whole client session.
    #[default]
    Session,
    /// For one transaction (or one statement outside a transaction).
    Transaction,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// `session` or `transaction` pooling (per user: `[[users]] pool_mode`).
    #[serde(default)]
    pub mode: PoolMode,
    /// Backend connections per (backend, user, database) pool.
    #[serde(default = "defaults::max_per_backend")]
    pub max_per_backend: usize,
    /// A client waiting longer than this for a backend connection gets 53300.
    #[serde(default = "defaults::checkout_timeout", with = "humantime_serde")]
    pub checkout_timeout: Duration,
    /// Idle pooled connections older than this are closed.
    #[serde(default = "defaults::idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// TCP connect plus startup/authentication towards a backend.
    #[serde(default = "defaults::connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Backend connections older than this are closed when given back.
    #[serde(default = "defaults::server_lifetime", with = "humantime_serde")]
    pub server_lifetime: Duration,
    /// The `ROLLBACK` / `DISCARD ALL` that cleans a connection a client left
    /// in use; a server that does not answer in time loses the connection
    /// (its pool slot is free again).
    #[serde(default = "defaults::reset_timeout", with = "humantime_serde")]
    pub reset_timeout: Duration,
    /// Keep an unnamed statement a connection sees twice prepared on it
    /// (`session::auto_prepare`): the server parses and plans it once.
    #[serde(default = "defaults::auto_prepare")]
    pub auto_prepare: bool,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            mode: PoolMode::Session,
            server_lifetime: defaults::server_lifetime(),
            max_per_backend: defaults::max_per_backend(),
            checkout_timeout: defaults::checkout_timeout(),
            idle_timeout: defaults::idle_timeout(),
            connect_timeout: defaults::connect_timeout(),
            reset_timeout: defaults::reset_timeout(),
            auto_prepare: defaults::auto_prepare(),
        }
    }
}

mod defaults {
    use std::time::Duration;

    pub fn max_per_backend() -> usize {
        20
    }
    pub fn checkout_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub fn idle_timeout() -> Duration {
        Duration::from_secs(600)
    }
    pub fn connect_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub fn server_lifetime() -> Duration {
        Duration::from_secs(3600)
    }
    pub fn reset_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub fn auto_prepare() -> bool {
        true
    }
}
