//! `proxy.toml`: the schema, its defaults and validation.
//!
//! Each section is its own struct so that each component receives only the
//! part it consumes, in its own file with its defaults; `validate.rs` holds
//! the checks serde cannot express. Unknown keys are rejected by serde
//! (`deny_unknown_fields`) and toml's error names the key and its line.

use std::path::Path;

use serde::{Deserialize, Serialize};

mod auth_query;
mod backends;
mod health;
mod listen;
mod log;
mod pool;
mod routing;
mod tls;
mod users;
mod validate;

pub use auth_query::AuthQuery;
pub use backends::Backend;
pub use health::{Failover, Health};
pub use listen::{Admin, Listen};
pub use log::{Log, LogFormat};
pub use pool::{Pool, PoolMode};
pub use routing::{Consistency, Routing};
pub use tls::{BackendTls, BackendTlsMode, ClientTlsMode, Tls};
pub use users::{AuthMethod, Database, User};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Parse(String),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file this configuration was read from (re-read on reload).
    #[serde(skip)]
    pub source: Option<std::path::PathBuf>,
    pub listen: Listen,
    #[serde(default)]
    pub admin: Admin,
    #[serde(default)]
    pub backends: Vec<Backend>,
    #[serde(default)]
    pub users: Vec<User>,
    /// Per-database overrides (today: the pooling mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<Database>,
    #[serde(default)]
    pub pool: Pool,
    #[serde(default)]
    pub routing: Routing,
    #[serde(default)]
    pub health: Health,
    #[serde(default)]
    pub failover: Failover,
    #[serde(default)]
    pub log: Log,
    /// Client-facing TLS.
    #[serde(default)]
    pub tls: Tls,
    /// TLS towards the backends (per backend: `[[backends]] tls_mode`, `tls_ca`).
    #[serde(default)]
    pub backend_tls: BackendTls,
    /// auth_query: verifiers of users not in `[[users]]`, fetched from the primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthQuery>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|e| match e {
            ConfigError::Parse(m) => ConfigError::Parse(format!("{}: {m}", path.display())),
            other => other,
        })?;
        // Absolute, so a reload finds the same file whatever the cwd is then.
        config.source = Some(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let msg = e.to_string();
            // toml says "missing field `listen`" for an absent table; say section.
            ConfigError::Parse(msg.replace("missing field", "missing section or key"))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The TLS settings for one backend: its own `tls_mode` / `tls_ca`
    /// over `[backend_tls]`.
    pub fn backend_tls_for(&self, b: &Backend) -> BackendTls {
        BackendTls {
            mode: b.tls_mode.unwrap_or(self.backend_tls.mode),
            ca: b.tls_ca.clone().or_else(|| self.backend_tls.ca.clone()),
        }
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The pooling mode of `user`'s sessions on `database`: the user's
    /// `pool_mode`, else the database's, else `[pool] mode`.
    pub fn pool_mode(&self, user: &str, database: &str) -> PoolMode {
        self.user(user)
            .and_then(|u| u.pool_mode)
            .or_else(|| {
                self.databases
                    .iter()
                    .find(|d| d.name == database)
                    .and_then(|d| d.pool_mode)
            })
            .unwrap_or(self.pool.mode)
    }

    /// Credentials the topology probes use.
    pub fn health_credentials(&self) -> (String, String) {
        let first = &self.users[0];
        let user = self
            .health
            .user
            .clone()
            .unwrap_or_else(|| first.name.clone());
        let password = self
            .health
            .password
            .clone()
            .or_else(|| self.user(&user).and_then(User::secret))
            .unwrap_or_default();
        (user, password)
    }

    /// The effective configuration as TOML, passwords left out.
    pub fn effective(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }
}

fn redact<S: serde::Serializer>(_: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("<redacted>")
}

#[cfg(test)]
mod tests;
