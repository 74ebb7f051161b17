//! `[[backends]]`: the PostgreSQL servers; their roles are discovered.

use serde::{Deserialize, Serialize};

use super::BackendTlsMode;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    /// host:port of a PostgreSQL server. Roles are discovered, never configured.
    pub addr: String,
    /// Share of reads this backend gets while it is a usable replica.
    #[serde(default = "defaults::weight")]
    pub weight: u32,
    /// This backend's TLS mode (default: `[backend_tls] mode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_mode: Option<BackendTlsMode>,
    /// This backend's CA file (default: `[backend_tls] ca`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<std::path::PathBuf>,
}

mod defaults {
    pub fn weight() -> u32 {
        1
    }
}
