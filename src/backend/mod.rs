//! One connection to a PostgreSQL server: connect + authenticate
//! ([`connect`]), and the small request/response helpers the proxy uses for
//! its own queries (probes, replayed session state, resets).

pub mod connect;
pub mod statements;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;

use crate::error::BackendError;
use crate::protocol::messages::{self, ErrorFields};
use crate::protocol::{tag, TxStatus};
use crate::tls::backend::BackendTls;
use crate::tls::Stream;

pub use connect::{connect, ConnectParams};

/// Largest message pgsplit reads whole from a backend outside the relay
/// (startup, probe results). Relayed traffic is streamed and has no limit.
const MAX_CONTROL_MESSAGE: usize = 64 * 1024 * 1024;

/// The backend's cancel key, from BackendKeyData, with the TLS settings the
/// CancelRequest must be sent with.
#[derive(Debug, Clone)]
pub struct CancelKey {
    pub addr: SocketAddr,
    pub pid: u32,
    /// Shared: the key is copied into the session's cancel slot whenever
    /// the session moves to another connection (every transaction, in
    /// transaction pooling).
    pub secret: Arc<[u8]>,
    pub tls: Option<Arc<BackendTls>>,
}

impl PartialEq for CancelKey {
    fn eq(&self, other: &Self) -> bool {
        self.addr == other.addr && self.pid == other.pid && self.secret == other.secret
    }
}

impl Eq for CancelKey {}

pub struct BackendConn {
    pub stream: Stream,
    pub rbuf: BytesMut,
    /// Configured address (for messages and metrics).
    pub addr: Arc<str>,
    pub key: CancelKey,
    /// ParameterStatus values, as last reported by the server.
    pub params: Vec<(String, String)>,
    /// Settings the proxy made true on this connection since its last reset:
    /// (name, the statement that set it).
    pub applied: Vec<(String, String)>,
    /// Named prepared statements this connection has, whichever session
    /// prepared them.
    pub prepared: statements::Statements,
    pub tx: TxStatus,
    pub created: Instant,
    /// Times the pool has handed it out: unchanged since a session gave
    /// it back means no other session used it since.
    pub lent: u64,
}

impl std::fmt::Debug for BackendConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendConn")
            .field("addr", &self.addr)
            .field("pid", &self.key.pid)
            .field("tx", &self.tx)
            .finish()
    }
}

/// Rows of a simple query, as text.
pub type Rows = Vec<Vec<Option<String>>>;

impl BackendConn {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn set_param(&mut self, name: &str, value: &str) {
        match self.params.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.params.push((name.to_owned(), value.to_owned())),
        }
    }

    fn io_err(&self, source: std::io::Error) -> BackendError {
        BackendError::Io {
            addr: self.addr.to_string(),
            source,
        }
    }

    pub async fn write_all(&mut self, data: &[u8]) -> Result<(), BackendError> {
        let sent = self.stream.send_all(data).await;
        sent.map_err(|e| self.io_err(e))
    }

    /// Reads one whole message (tag, body). For the proxy's own exchanges
    /// only; relayed traffic goes through the scanner.
    pub async fn read_message(&mut self) -> Result<(u8, Bytes), BackendError> {
        read_message(&mut self.stream, &mut self.rbuf, &self.addr).await
    }

    /// Runs the proxy's own simple query and swallows its responses; the
    /// connection must be idle (no request in flight). A server error is
    /// returned after the ReadyForQuery that follows it.
    pub async fn simple_query(&mut self, sql: &str) -> Result<Rows, BackendError> {
        let mut out = BytesMut::new();
        messages::query(&mut out, sql);
        self.exchange(&out).await
    }

    /// Sends the proxy's own messages (ending in Sync or a Query) and reads
    /// the replies up to ReadyForQuery, keeping them from the client.
    pub async fn exchange(&mut self, out: &[u8]) -> Result<Rows, BackendError> {
        self.write_all(out).await?;
        let mut rows = Vec::new();
        let mut failed: Option<BackendError> = None;
        loop {
            let (t, body) = self.read_message().await?;
            match t {
                tag::DATA_ROW => rows.push(data_row(&body).ok_or_else(|| self.malformed())?),
                tag::ERROR_RESPONSE => {
                    failed.get_or_insert(self.server_error(&body));
                }
                tag::PARAMETER_STATUS => {
                    if let Some((k, v)) = messages::parameter(&body) {
                        let (k, v) = (k.to_owned(), v.to_owned());
                        self.set_param(&k, &v);
                    }
                }
                tag::READY_FOR_QUERY => {
                    self.tx = body
                        .first()
                        .and_then(|&b| TxStatus::from_byte(b))
                        .ok_or_else(|| self.malformed())?;
                    return match failed {
                        Some(e) => Err(e),
                        None => Ok(rows),
                    };
                }
                // COPY started by a query of our own is a bug upstream: refuse.
                tag::COPY_IN_RESPONSE | tag::COPY_OUT_RESPONSE | tag::COPY_BOTH_RESPONSE => {
                    return Err(self.malformed());
                }
                _ => {}
            }
        }
    }

    fn malformed(&self) -> BackendError {
        BackendError::Protocol {
            addr: self.addr.to_string(),
            source: crate::protocol::ProtocolError::Malformed("backend reply"),
        }
    }

    fn server_error(&self, body: &[u8]) -> BackendError {
        server_error(&self.addr, body)
    }
}

pub(crate) fn server_error(addr: &str, body: &[u8]) -> BackendError {
    let mut raw = BytesMut::with_capacity(body.len() + 5);
    messages::put_frame(&mut raw, tag::ERROR_RESPONSE, |b| b.extend_from_slice(body));
    BackendError::Server {
        addr: addr.to_owned(),
        fields: Box::new(messages::error_fields(body)),
        raw: raw.freeze(),
    }
}

/// Parses a DataRow into text columns.
fn data_row(body: &[u8]) -> Option<Vec<Option<String>>> {
    let n = u16::from_be_bytes([*body.first()?, *body.get(1)?]) as usize;
    let mut at = 2;
    let mut cols = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let len = messages::u32_at(body, at)? as i32;
        at += 4;
        if len < 0 {
            cols.push(None);
            continue;
        }
        let end = at.checked_add(len as usize)?;
        let v = body.get(at..end)?;
        cols.push(Some(String::from_utf8_lossy(v).into_owned()));
        at = end;
    }
    Some(cols)
}

pub(crate) async fn read_message(
    stream: &mut Stream,
    rbuf: &mut BytesMut,
    addr: &str,
) -> Result<(u8, Bytes), BackendError> {
    let io = |source| BackendError::Io {
        addr: addr.to_owned(),
        source,
    };
    loop {
        if rbuf.len() >= 5 {
            let len = u32::from_be_bytes([rbuf[1], rbuf[2], rbuf[3], rbuf[4]]) as usize;
            if !(4..=MAX_CONTROL_MESSAGE).contains(&len) {
                return Err(BackendError::Protocol {
                    addr: addr.to_owned(),
                    source: crate::protocol::ProtocolError::BadLength {
                        tag: rbuf[0] as char,
                        len,
                    },
                });
            }
            if rbuf.len() > len {
                let mut frame = rbuf.split_to(len + 1);
                let t = frame[0];
                let body = frame.split_off(5).freeze();
                return Ok((t, body));
            }
            rbuf.reserve(len + 1 - rbuf.len());
        } else {
            rbuf.reserve(8192);
        }
        if stream.read_buf(rbuf).await.map_err(io)? == 0 {
            return Err(BackendError::Closed {
                addr: addr.to_owned(),
            });
        }
    }
}

/// ErrorFields of a server error, if that is what `e` is.
pub fn server_fields(e: &BackendError) -> Option<&ErrorFields> {
    match e {
        BackendError::Server { fields, .. } => Some(fields),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_row_parses_text_and_null() {
        let mut body = vec![0, 2];
        body.extend_from_slice(&3u32.to_be_bytes());
        body.extend_from_slice(b"abc");
        body.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(data_row(&body), Some(vec![Some("abc".into()), None]));
        assert_eq!(data_row(&body[..6]), None);
    }
}
