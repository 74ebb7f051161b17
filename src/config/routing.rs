//! `[routing]`: how statements are classified, and how fresh reads must be.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    /// Functions (optionally schema-qualified) to treat as reads whatever pg_proc says.
    #[serde(default)]
    pub read_functions: Vec<String>,
    /// Functions to treat as writes whatever pg_proc says.
    #[serde(default)]
    pub write_functions: Vec<String>,
    /// How often each database's function volatility table is re-read.
    #[serde(default = "defaults::functions_refresh", with = "humantime_serde")]
    pub functions_refresh: Duration,
    /// Statement texts whose classification is cached, per database.
    #[serde(default = "defaults::cache_size")]
    pub cache_size: usize,
    /// Read-your-writes: "eventual", "session" or "global".
    #[serde(default)]
    pub consistency: Consistency,
    /// Longest a read waits for a replica to replay what it must see before
    /// it goes to the primary instead.
    #[serde(default = "defaults::causal_wait_timeout", with = "humantime_serde")]
    pub causal_wait_timeout: Duration,
    /// A replica further behind the primary than this (bytes of WAL) gets no reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replica_lag_bytes: Option<u64>,
    /// A replica further behind than this (time since its last replayed
    /// commit while it has WAL to replay) gets no reads.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_replica_lag: Option<Duration>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// No tracking: a read may not see a write that just committed.
    Eventual,
    /// A session's reads see its own committed writes.
    #[default]
    Session,
    /// Reads see every write the proxy has seen committed, by any client.
    Global,
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            read_functions: Vec::new(),
            write_functions: Vec::new(),
            functions_refresh: defaults::functions_refresh(),
            cache_size: defaults::cache_size(),
            consistency: Consistency::default(),
            causal_wait_timeout: defaults::causal_wait_timeout(),
            max_replica_lag_bytes: None,
            max_replica_lag: None,
        }
    }
}

mod defaults {
    use std::time::Duration;

    pub fn functions_refresh() -> Duration {
        Duration::from_secs(300)
    }
    pub fn cache_size() -> usize {
        10_000
    }
    pub fn causal_wait_timeout() -> Duration {
        Duration::from_millis(100)
    }
}
