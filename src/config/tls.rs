//! `[tls]` (client-facing) and `[backend_tls]` (towards PostgreSQL) sections.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Whether clients may or must use TLS.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClientTlsMode {
    /// SSLRequest is answered `N`; direct TLS is refused.
    #[default]
    Disable,
    /// TLS when the client asks for it, plaintext otherwise.
    Allow,
    /// A plaintext startup is refused with SQLSTATE 28000.
    Require,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    #[serde(default)]
    pub mode: ClientTlsMode,
    /// PEM certificate chain (leaf first) presented to clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

/// libpq-sslmode-like choice for backend connections.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BackendTlsMode {
    /// Plain TCP.
    #[default]
    Disable,
    /// Ask for TLS; go on in plaintext when the server says `N`.
    Prefer,
    /// TLS, certificate not verified.
    Require,
    /// TLS; the chain must verify against `ca` and name the backend's host.
    VerifyFull,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BackendTls {
    #[serde(default)]
    pub mode: BackendTlsMode,
    /// PEM file of the certificate authorities trusted for `verify-full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
}

impl Tls {
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.mode != ClientTlsMode::Disable && (self.cert.is_none() || self.key.is_none()) {
            return Err(format!(
                "[tls] mode = {:?} needs both cert and key",
                format!("{:?}", self.mode).to_lowercase()
            ));
        }
        Ok(())
    }
}

impl BackendTls {
    pub(super) fn validate(&self, context: &str) -> Result<(), String> {
        if self.mode == BackendTlsMode::VerifyFull && self.ca.is_none() {
            return Err(format!(
                "{context}: mode \"verify-full\" needs ca (the CA file to verify backends against)"
            ));
        }
        Ok(())
    }
}
