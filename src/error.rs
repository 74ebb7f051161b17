//! Errors that say which side failed, and the one place that maps them to a
//! SQLSTATE for the client.

use crate::protocol::messages::ErrorFields;
use crate::protocol::ProtocolError;

/// Something went wrong with a client connection.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("client i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("client sent a bad packet: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("client did not finish startup in time")]
    StartupTimeout,
    #[error("client closed the connection")]
    Closed,
    #[error("client TLS: {0}")]
    Tls(String),
    #[error("session ended by a graceful shutdown")]
    Shutdown,
    #[error("client idle in a transaction longer than idle_in_transaction_timeout")]
    IdleInTransaction,
}

/// Something went wrong with a backend (PostgreSQL server) connection.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("backend {addr}: connect failed: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("backend {addr}: {what} timed out")]
    Timeout { addr: String, what: &'static str },
    #[error("backend {addr}: i/o: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("backend {addr} closed the connection")]
    Closed { addr: String },
    #[error("backend {addr} sent a bad packet: {source}")]
    Protocol { addr: String, source: ProtocolError },
    #[error("backend {addr}: TLS: {message}")]
    Tls { addr: String, message: String },
    #[error("backend {addr}: authentication: {message}")]
    Auth { addr: String, message: String },
    /// The server answered with an ErrorResponse; `raw` is the whole message,
    /// ready to relay to the client unchanged.
    #[error("backend {addr}: {fields}")]
    Server {
        addr: String,
        fields: Box<ErrorFields>,
        raw: bytes::Bytes,
    },
}

impl BackendError {
    /// SQLSTATE to report to a client when this error ends its request.
    pub fn sqlstate(&self) -> &str {
        match self {
            BackendError::Server { fields, .. } => &fields.code,
            BackendError::Auth { .. } => "28000",
            BackendError::Connect { .. }
            | BackendError::Timeout { .. }
            | BackendError::Tls { .. } => "08001",
            _ => "08006",
        }
    }

    /// True for failures of the connection itself, which make it unusable.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, BackendError::Server { .. })
    }
}
