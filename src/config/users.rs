//! `[[users]]` (who may log in, and how) and `[[databases]]` (per-database
//! overrides).

use serde::{Deserialize, Serialize};

use super::{redact, PoolMode};

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
pub enum AuthMethod {
    #[default]
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
    #[serde(rename = "md5")]
    Md5,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    /// Password clients must present, and that pgsplit uses towards the
    /// backends; or a SCRAM verifier (`SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`,
    /// as in pg_authid): clients are checked against it and backends are
    /// logged in to by SCRAM pass-through.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "redact"
    )]
    pub password: Option<String>,
    /// Name of an environment variable holding the password instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// How clients authenticate to pgsplit.
    #[serde(default)]
    pub auth: AuthMethod,
    /// This user's pooling mode (default: `[pool] mode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_mode: Option<PoolMode>,
}

/// Settings for the sessions of one database (the name clients connect to).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub name: String,
    /// Pooling mode of this database's sessions (a user's `pool_mode` wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_mode: Option<PoolMode>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .field("auth", &self.auth)
            .finish()
    }
}

impl User {
    /// The password, from the file or the named environment variable.
    pub fn secret(&self) -> Option<String> {
        match (&self.password, &self.password_env) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(var)) => std::env::var(var).ok(),
            (None, None) => None,
        }
    }
}
