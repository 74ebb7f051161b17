//! Client-facing TLS: the acceptor built from `[tls]` cert and key, rebuilt
//! on every reload so renewed certificate files are picked up.

use std::sync::Arc;

use pgwire::api::auth::sasl::scram::ScramServerAuth;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use super::{load_key, provider, read_certs, TlsError, ALPN_POSTGRESQL};
use crate::config::{ClientTlsMode, Tls};

/// The `[tls]` section made ready to accept.
pub struct ClientTls {
    pub mode: ClientTlsMode,
    acceptor: Option<TlsAcceptor>,
    /// SCRAM bound to the served certificate (`tls-server-end-point`), so
    /// TLS clients are offered SCRAM-SHA-256-PLUS; None when the
    /// certificate's signature hash is not one the binding defines.
    channel_binding: Option<ScramServerAuth>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("mode", &self.mode)
            .field("configured", &self.acceptor.is_some())
            .field("channel_binding", &self.channel_binding.is_some())
            .finish()
    }
}

impl ClientTls {
    pub fn disabled() -> ClientTls {
        ClientTls {
            mode: ClientTlsMode::Disable,
            acceptor: None,
            channel_binding: None,
        }
    }

    /// Reads the certificate and key files (a validated config has both
    /// whenever the mode is not `disable`).
    pub fn from_config(tls: &Tls) -> Result<ClientTls, TlsError> {
        let (ClientTlsMode::Allow | ClientTlsMode::Require, Some(cert), Some(key)) =
            (tls.mode, &tls.cert, &tls.key)
        else {
            return Ok(ClientTls::disabled());
        };
        let (certs, pem) = read_certs(cert, "[tls] cert")?;
        let mut scram = ScramServerAuth::new();
        let channel_binding = match scram.configure_certificate(&pem) {
            Ok(()) => Some(scram),
            Err(e) => {
                tracing::warn!(
                    cert = %cert.display(),
                    error = %e,
                    "no channel binding (SCRAM-SHA-256-PLUS) for this certificate"
                );
                None
            }
        };
        let key = load_key(key)?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Config(format!("[tls] cert and key: {e}")))?;
        // PostgreSQL 17 direct TLS requires this ALPN; clients using
        // SSLRequest may send it or not (rustls only refuses a mismatch).
        config.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];
        Ok(ClientTls {
            mode: tls.mode,
            acceptor: Some(TlsAcceptor::from(Arc::new(config))),
            channel_binding,
        })
    }

    /// SCRAM with channel binding to this certificate, for a client that
    /// came in over TLS.
    pub fn channel_binding(&self) -> Option<&ScramServerAuth> {
        self.channel_binding.as_ref()
    }

    /// The acceptor, when TLS is offered to clients.
    pub fn acceptor(&self) -> Option<&TlsAcceptor> {
        self.acceptor.as_ref()
    }
}
