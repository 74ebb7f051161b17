//! A raw PostgreSQL client over TLS (rustls): SSLRequest or PostgreSQL 17
//! direct TLS with or without ALPN, SCRAM login, simple queries, cancel.

use std::path::Path;
use std::sync::Arc;

use pgwire::api::auth::sasl::scram::ScramClientAuth;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::support::raw::{cstr, error_code, first_column, frame, read_message, startup_packet};
use crate::support::{DATABASE, USER};

pub type Tls = TlsStream<TcpStream>;

fn connector(ca: &Path, alpn: bool) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    if alpn {
        config.alpn_protocols = vec![b"postgresql".to_vec()];
    }
    TlsConnector::from(Arc::new(config))
}

fn name() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

/// PostgreSQL 17 direct TLS: the ClientHello is the first thing sent.
pub async fn direct(port: u16, ca: &Path, alpn: bool) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    connector(ca, alpn).connect(name(), tcp).await
}

/// The classic way: SSLRequest, `S`, then the TLS handshake.
pub async fn ssl_request(port: u16, ca: &Path) -> std::io::Result<Tls> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]).await?;
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await?;
    assert_eq!(
        answer[0], b'S',
        "SSLRequest answered {:?}",
        answer[0] as char
    );
    connector(ca, false).connect(name(), tcp).await
}

/// The SQLSTATE of an ErrorResponse body ("" when it has none).
fn sqlstate(body: &[u8]) -> String {
    error_code(body).unwrap_or_default()
}

/// Startup + SCRAM-SHA-256 up to ReadyForQuery; the backend key on success,
/// the SQLSTATE on refusal.
pub async fn login(
    s: &mut Tls,
    user: &str,
    db: &str,
    password: &str,
) -> Result<(u32, Vec<u8>), String> {
    let startup = startup_packet(&[("user", user), ("database", db)]);
    s.write_all(&startup).await.map_err(|e| e.to_string())?;
    let mut first = None;
    let mut fin = None;
    let mut key = None;
    loop {
        let (t, body) = read_message(s).await.map_err(|e| e.to_string())?;
        match t {
            b'E' => return Err(sqlstate(&body)),
            b'K' => {
                key = Some((
                    u32::from_be_bytes([body[0], body[1], body[2], body[3]]),
                    body[4..].to_vec(),
                ))
            }
            b'Z' => return key.ok_or_else(|| "no BackendKeyData".to_string()),
            b'R' => {
                let code = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                let data = &body[4..];
                match code {
                    0 => {}
                    10 => {
                        let (msg, next) = ScramClientAuth::new(user.into(), password.into())
                            .build_client_first()
                            .unwrap();
                        let mut b = cstr("SCRAM-SHA-256");
                        b.extend_from_slice(&(msg.len() as u32).to_be_bytes());
                        b.extend_from_slice(msg.as_bytes());
                        s.write_all(&frame(b'p', &b))
                            .await
                            .map_err(|e| e.to_string())?;
                        first = Some(next);
                    }
                    11 => {
                        let (msg, next) = first.take().unwrap().build_client_final(data).unwrap();
                        s.write_all(&frame(b'p', msg.as_bytes()))
                            .await
                            .map_err(|e| e.to_string())?;
                        fin = Some(next);
                    }
                    12 => fin
                        .take()
                        .unwrap()
                        .verify_server_final(data)
                        .map_err(|e| e.to_string())?,
                    other => return Err(format!("unexpected auth request {other}")),
                }
            }
            _ => {}
        }
    }
}

/// A simple query: first column of each row, or the SQLSTATE.
pub async fn query(s: &mut Tls, sql: &str) -> Result<Vec<String>, String> {
    s.write_all(&frame(b'Q', &cstr(sql)))
        .await
        .map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    let mut error = None;
    loop {
        let (t, body) = read_message(s).await.map_err(|e| e.to_string())?;
        match t {
            b'D' => rows.push(first_column(&body)),
            b'E' => error = Some(sqlstate(&body)),
            b'Z' => return error.map_or(Ok(rows), Err),
            _ => {}
        }
    }
}

/// Sends a query without waiting for its result.
pub async fn send_query(s: &mut Tls, sql: &str) {
    s.write_all(&frame(b'Q', &cstr(sql))).await.unwrap();
}

/// A CancelRequest inside TLS (SSLRequest first, as libpq 17 does).
pub async fn cancel(port: u16, ca: &Path, pid: u32, secret: &[u8]) {
    let mut s = ssl_request(port, ca).await.unwrap();
    let mut m = ((12 + secret.len()) as u32).to_be_bytes().to_vec();
    m.extend_from_slice(&80_877_102u32.to_be_bytes());
    m.extend_from_slice(&pid.to_be_bytes());
    m.extend_from_slice(secret);
    s.write_all(&m).await.unwrap();
    s.flush().await.unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest).await;
}

/// The start of a SCRAM login chosen by hand: the startup packet, the
/// mechanisms the proxy offers, then one SASLInitialResponse naming
/// `mechanism` with `client_first` as its data. Returns the offered
/// mechanisms and the next message's (tag, body).
pub async fn sasl_start<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    mechanism: &str,
    client_first: &str,
) -> (Vec<String>, (u8, Vec<u8>)) {
    s.write_all(&startup_packet(&[("user", USER), ("database", DATABASE)]))
        .await
        .unwrap();
    let (t, body) = read_message(s).await.unwrap();
    assert_eq!(
        (t, &body[..4]),
        (b'R', &10u32.to_be_bytes()[..]),
        "AuthenticationSASL"
    );
    let offered = body[4..]
        .split(|&b| b == 0)
        .filter(|m| !m.is_empty())
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    let mut b = cstr(mechanism);
    b.extend_from_slice(&(client_first.len() as u32).to_be_bytes());
    b.extend_from_slice(client_first.as_bytes());
    s.write_all(&frame(b'p', &b)).await.unwrap();
    (offered, read_message(s).await.unwrap())
}
