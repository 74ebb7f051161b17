//! Configuration reload (SIGHUP, `POST /reload`): the file is read and
//! validated whole; only a valid config replaces the live one. Sessions keep
//! running: they read the live config per use, pools take new limits, the
//! topology task gets the new backend list. Settings bound at start-up
//! (listen and admin addresses, logging) keep their running values and are
//! named in the log.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;

use crate::auth::Credentials;
use crate::config::{Config, ConfigError};
use crate::shared::Shared;
use crate::tls::backend::BackendTls;
use crate::tls::server::ClientTls;

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the running configuration was not read from a file; nothing to reload")]
    NoSource,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("[tls]: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("backend {addr}: TLS settings unusable: {message}")]
    BackendTls { addr: String, message: String },
}

/// What a reload changed.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ReloadReport {
    /// Sections (or `users`) now in effect with new values.
    pub changed: Vec<String>,
    /// Settings that differ in the file but only take effect after a restart.
    pub restart_needed: Vec<String>,
}

pub struct Reloader {
    shared: Arc<Shared>,
    topology: watch::Sender<Arc<Config>>,
    /// One reload at a time (SIGHUP and HTTP may race).
    lock: tokio::sync::Mutex<()>,
}

impl Reloader {
    pub fn new(shared: Arc<Shared>, topology: watch::Sender<Arc<Config>>) -> Reloader {
        Reloader {
            shared,
            topology,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Re-reads the file the running config came from and applies it.
    /// Errors are logged here; the running config stays on any error.
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let _one = self.lock.lock().await;
        let result = match self.shared.config.load().source.clone() {
            None => Err(ReloadError::NoSource),
            Some(path) => Config::load(&path).map_err(ReloadError::from),
        };
        let result = result.and_then(|new| {
            // Certificate files are re-read on every reload (renewals).
            let client_tls = ClientTls::from_config(&new.tls)?;
            let backend_tls = BackendTls::for_config(&new);
            if let Some((addr, message)) = backend_tls
                .iter()
                .find_map(|(a, t)| t.problem().map(|m| (a.clone(), m)))
            {
                return Err(ReloadError::BackendTls { addr, message });
            }
            Ok((new, client_tls, backend_tls))
        });
        match result {
            Ok((new, client_tls, backend_tls)) => {
                self.shared.client_tls.store(Arc::new(client_tls));
                self.shared.pools.set_tls(backend_tls);
                Ok(self.apply(new))
            }
            Err(e) => {
                tracing::error!(error = %e, "reload rejected; the running configuration stays");
                Err(e)
            }
        }
    }

    fn apply(&self, mut new: Config) -> ReloadReport {
        let old = self.shared.config.load_full();
        let mut report = ReloadReport::default();
        // Bound at start-up: keep what runs, say what would need a restart.
        if new.listen.addr != old.listen.addr {
            report.restart_needed.push("listen.addr".into());
            new.listen.addr = old.listen.addr.clone();
        }
        if new.admin.addr != old.admin.addr {
            report.restart_needed.push("admin.addr".into());
            new.admin.addr = old.admin.addr.clone();
        }
        if section(&new.log) != section(&old.log) {
            report.restart_needed.push("log".into());
            new.log = old.log.clone();
        }
        let changed_users: Vec<String> = old
            .users
            .iter()
            .filter(|u| {
                new.user(&u.name)
                    .is_none_or(|n| n.secret() != u.secret() || n.auth != u.auth)
            })
            .map(|u| u.name.clone())
            .collect();
        report.changed = changed_sections(&old, &new);
        if !changed_users.is_empty() && !report.changed.iter().any(|s| s == "users") {
            report.changed.push("users".into());
        }
        let new = Arc::new(new);
        if report.changed.iter().any(|s| s == "users") {
            self.shared
                .creds
                .store(Arc::new(Credentials::from_config(&new)));
        }
        let backends: Vec<&str> = new.backends.iter().map(|b| b.addr.as_str()).collect();
        self.shared
            .pools
            .reconfigure(&new.pool, &changed_users, &backends);
        self.shared.config.store(new.clone());
        if report
            .changed
            .iter()
            .any(|s| s == "backends" || s == "health" || s == "users" || s == "backend_tls")
        {
            self.topology.send_replace(new);
        }
        tracing::info!(changed = ?report.changed, "configuration reloaded");
        if !report.restart_needed.is_empty() {
            tracing::warn!(
                settings = ?report.restart_needed,
                "these settings changed in the file but take effect only after a restart"
            );
        }
        report
    }
}

fn section<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Top-level keys whose values differ (passwords are redacted in the
/// serialized form, so password changes are found separately).
fn changed_sections(old: &Config, new: &Config) -> Vec<String> {
    let (serde_json::Value::Object(a), serde_json::Value::Object(b)) = (section(old), section(new))
    else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| k.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[listen]\naddr = \"127.0.0.1:6432\"\n[[backends]]\naddr = \"a:1\"\n\
                        [[users]]\nname = \"u\"\npassword = \"p\"\n";

    #[test]
    fn sections_are_compared_by_value() {
        let old = Config::parse(BASE).unwrap();
        let new = Config::parse(&format!("{BASE}[pool]\nmax_per_backend = 3\n")).unwrap();
        assert_eq!(changed_sections(&old, &new), vec!["pool".to_string()]);
        assert!(changed_sections(&old, &old).is_empty());
        let more =
            Config::parse(&BASE.replace("[[users]]", "[[backends]]\naddr = \"b:1\"\n[[users]]"))
                .unwrap();
        assert_eq!(changed_sections(&old, &more), vec!["backends".to_string()]);
    }
}
