//! `[listen]` (where applications connect, and the limits each client
//! gets) and `[admin]` (the HTTP endpoint).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::redact;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// Where applications connect.
    pub addr: String,
    /// Client connections accepted at once; more get SQLSTATE 53300.
    #[serde(default = "defaults::max_clients")]
    pub max_clients: usize,
    /// A client must finish startup and authentication within this time.
    #[serde(default = "defaults::startup_timeout", with = "humantime_serde")]
    pub startup_timeout: Duration,
    /// Largest single protocol message accepted from a client.
    #[serde(default = "defaults::max_message_size")]
    pub max_message_size: usize,
    /// On SIGTERM, open transactions get this long to finish.
    #[serde(default = "defaults::shutdown_timeout", with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Runtime worker threads (read at start); 0: half the cores, at least
    /// one (see [`Listen::worker_threads`]).
    #[serde(default)]
    pub workers: usize,
    /// A wrong password is answered only after this long (the session's
    /// own task waits; other clients are not held up).
    #[serde(default = "defaults::auth_failure_delay", with = "humantime_serde")]
    pub auth_failure_delay: Duration,
    /// A client idle inside a transaction longer than this gets 25P03 and
    /// is closed; its transaction is rolled back. None: no limit.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub idle_in_transaction_timeout: Option<Duration>,
}

impl Listen {
    /// The worker threads to run with. Half the cores by default: a proxy
    /// mostly shares its machine with the database or the application, and
    /// measured on 2 cores beside PostgreSQL and pgbench one worker served
    /// `pgbench -S -c 16` at 1.1–1.3× the throughput of two, with less CPU
    /// per transaction (fewer cross-thread wakeups).
    pub fn worker_threads(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            n => n,
        }
    }
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// HTTP endpoint for /metrics /health /ready /status.
    #[serde(default = "defaults::admin_addr")]
    pub addr: String,
    /// When set, every endpoint but /health needs `Authorization: Bearer <token>`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "redact"
    )]
    pub token: Option<String>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            addr: defaults::admin_addr(),
            token: None,
        }
    }
}

mod defaults {
    use std::time::Duration;

    pub fn max_clients() -> usize {
        5000
    }
    pub fn startup_timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub fn max_message_size() -> usize {
        64 * 1024 * 1024
    }
    pub fn auth_failure_delay() -> Duration {
        Duration::from_millis(500)
    }
    pub fn shutdown_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn admin_addr() -> String {
        "127.0.0.1:9930".into()
    }
}
