//! Backend-facing TLS, with libpq's sslmode meanings: `prefer` asks and
//! falls back to plaintext on `N`; `require` encrypts without verifying;
//! `verify-full` checks the chain against `ca` and the host name.
//! Used by pooled connections, health probes and cancel requests alike.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{load_certs, provider, Stream, SSL_REQUEST_CODE};
use crate::config::{self, BackendTlsMode};
use crate::error::BackendError;

/// How to (maybe) encrypt connections to one backend.
pub struct BackendTls {
    pub mode: BackendTlsMode,
    /// `None` for `disable`; `Err` when the CA file cannot be used (every
    /// connection attempt then fails with that message).
    config: Result<Option<Arc<ClientConfig>>, String>,
    server_name: Result<ServerName<'static>, String>,
    /// The settings and CA file contents this was built from (a reload
    /// that changes neither keeps the pools).
    source: (config::BackendTls, Option<Vec<u8>>),
}

impl std::fmt::Debug for BackendTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendTls")
            .field("mode", &self.mode)
            .finish()
    }
}

impl BackendTls {
    /// Settings for the backend at `addr` (`host:port`).
    pub fn new(addr: &str, settings: &config::BackendTls) -> BackendTls {
        let config = match settings.mode {
            BackendTlsMode::Disable => Ok(None),
            BackendTlsMode::Prefer | BackendTlsMode::Require => no_verify().map(Some),
            BackendTlsMode::VerifyFull => verifying(settings.ca.as_deref()).map(Some),
        };
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ca_bytes = match settings.mode {
            BackendTlsMode::VerifyFull => settings.ca.as_ref().and_then(|p| std::fs::read(p).ok()),
            _ => None,
        };
        BackendTls {
            mode: settings.mode,
            source: (settings.clone(), ca_bytes),
            config,
            server_name: ServerName::try_from(host.to_owned())
                .map_err(|e| format!("{host:?} is not a valid TLS server name: {e}")),
        }
    }

    /// Why this backend's TLS settings cannot work, checked at start and
    /// reload so a bad CA file is reported at once.
    pub fn problem(&self) -> Option<String> {
        match (&self.config, &self.server_name) {
            (Err(e), _) => Some(e.clone()),
            (Ok(Some(_)), Err(e)) => Some(e.clone()),
            _ => None,
        }
    }

    /// Built from the same settings and CA file contents.
    pub fn same_as(&self, other: &BackendTls) -> bool {
        self.source == other.source
    }

    /// One entry per configured backend address.
    pub fn for_config(
        config: &config::Config,
    ) -> std::collections::HashMap<String, Arc<BackendTls>> {
        config
            .backends
            .iter()
            .map(|b| {
                let tls = BackendTls::new(&b.addr, &config.backend_tls_for(b));
                (b.addr.clone(), Arc::new(tls))
            })
            .collect()
    }

    pub fn enabled(&self) -> bool {
        self.mode != BackendTlsMode::Disable
    }
}

/// SSLRequest on a fresh connection, then the TLS handshake when the server
/// agrees; `None` settings or `disable` keep the socket plain.
pub async fn negotiate(
    mut tcp: TcpStream,
    tls: Option<&BackendTls>,
    addr: &str,
) -> Result<Stream, BackendError> {
    let Some(tls) = tls.filter(|t| t.enabled()) else {
        return Ok(Stream::Plain(tcp));
    };
    let fail = |message: String| BackendError::Tls {
        addr: addr.to_owned(),
        message,
    };
    let config = match &tls.config {
        Ok(Some(c)) => c.clone(),
        Ok(None) => return Ok(Stream::Plain(tcp)),
        Err(e) => return Err(fail(e.clone())),
    };
    let name = tls.server_name.clone().map_err(fail)?;
    let io = |source| BackendError::Io {
        addr: addr.to_owned(),
        source,
    };
    let mut request = [0u8; 8];
    request[..4].copy_from_slice(&8u32.to_be_bytes());
    request[4..].copy_from_slice(&SSL_REQUEST_CODE.to_be_bytes());
    tcp.write_all(&request).await.map_err(io)?;
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await.map_err(io)?;
    match (answer[0], tls.mode) {
        (b'S', _) => {}
        (b'N', BackendTlsMode::Prefer) => return Ok(Stream::Plain(tcp)),
        (b'N', mode) => {
            return Err(fail(format!(
                "the server does not accept TLS (ssl = off) but backend_tls mode is {mode:?}"
            )))
        }
        (other, _) => {
            return Err(fail(format!(
                "unexpected answer {:?} to SSLRequest",
                other as char
            )))
        }
    }
    let stream = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| fail(format!("TLS handshake failed: {e}")))?;
    Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Client(
        stream,
    ))))
}

fn verifying(ca: Option<&std::path::Path>) -> Result<Arc<ClientConfig>, String> {
    let ca = ca.ok_or("verify-full needs a CA file (ca)")?;
    let mut roots = RootCertStore::empty();
    for cert in load_certs(ca, "[backend_tls] ca").map_err(|e| e.to_string())? {
        roots
            .add(cert)
            .map_err(|e| format!("[backend_tls] ca {}: {e}", ca.display()))?;
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn no_verify() -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// `require`: encryption without authentication of the server, as libpq's
/// sslmode=require. The handshake signatures are still checked.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
