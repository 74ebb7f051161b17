//! `[health]` (the backend probes) and `[failover]` (promotion when the
//! primary stays down).

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Time between probes of each backend.
    #[serde(default = "defaults::health_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// A probe slower than this counts as a failure.
    #[serde(default = "defaults::health_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// User the probes log in as (default: the first [[users]] entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Its password (default: that user's password).
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// Database the probes connect to.
    #[serde(default = "defaults::health_database")]
    pub database: String,
    /// Consecutive failed probes that mark a backend down.
    #[serde(default = "defaults::health_failures")]
    pub failures: u32,
    /// Consecutive good probes that bring a down backend back.
    #[serde(default = "defaults::health_successes")]
    pub successes: u32,
    /// File keeping the highest timeline seen per cluster across restarts
    /// (default: none, kept in memory only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("database", &self.database)
            .field("failures", &self.failures)
            .field("successes", &self.successes)
            .field("state_file", &self.state_file)
            .finish()
    }
}

impl Default for Health {
    fn default() -> Self {
        Health {
            interval: defaults::health_interval(),
            timeout: defaults::health_timeout(),
            user: None,
            password: None,
            database: defaults::health_database(),
            failures: defaults::health_failures(),
            successes: defaults::health_successes(),
            state_file: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Failover {
    /// Promote the best replica when the primary stays down (off by default).
    #[serde(default)]
    pub auto_promote: bool,
    /// How long the primary must be down before a promotion.
    #[serde(default = "defaults::failover_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Promote only while `vip` is assigned to this host.
    #[serde(default)]
    pub require_vip: bool,
    /// The virtual IP of a pgsplit pair (for `require_vip`).
    #[serde(default)]
    pub vip: String,
}

impl Default for Failover {
    fn default() -> Self {
        Failover {
            auto_promote: false,
            timeout: defaults::failover_timeout(),
            require_vip: false,
            vip: String::new(),
        }
    }
}

mod defaults {
    use std::time::Duration;

    pub fn health_interval() -> Duration {
        Duration::from_secs(1)
    }
    pub fn health_timeout() -> Duration {
        Duration::from_secs(2)
    }
    pub fn health_database() -> String {
        "postgres".into()
    }
    pub fn health_failures() -> u32 {
        3
    }
    pub fn health_successes() -> u32 {
        2
    }
    pub fn failover_timeout() -> Duration {
        Duration::from_secs(10)
    }
}
