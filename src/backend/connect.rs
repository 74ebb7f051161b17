//! Opening a backend connection: TCP (socket2 options), TLS when
//! `[backend_tls]` asks for it, StartupMessage, authentication (SCRAM-SHA-256
//! with the password or by pass-through, bound to the TLS channel when
//! there is one; md5, cleartext, trust), then the server's ParameterStatus
//! and BackendKeyData up to ReadyForQuery.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pgwire::api::auth::md5pass::hash_md5_password;
use tokio::net::{lookup_host, TcpStream};

use super::{server_error, BackendConn, CancelKey};
use crate::auth::scram_client::{Binding, ClientFirst, ExpectSignature, Secret};
use crate::auth::BackendAuth;
use crate::error::BackendError;
use crate::protocol::messages::{self, u32_at};
use crate::protocol::{tag, TxStatus};
use crate::tls::backend::{negotiate, BackendTls};

/// Everything needed to open one backend connection.
#[derive(Debug, Clone)]
pub struct ConnectParams {
    pub addr: Arc<str>,
    pub user: String,
    pub auth: BackendAuth,
    pub database: String,
    /// Extra startup parameters (application_name, options…).
    pub startup: Vec<(String, String)>,
    pub timeout: Duration,
    /// TLS towards this backend (`None`: plain TCP).
    pub tls: Option<Arc<BackendTls>>,
}

pub async fn connect(p: &ConnectParams) -> Result<BackendConn, BackendError> {
    match tokio::time::timeout(p.timeout, connect_inner(p)).await {
        Ok(r) => r,
        Err(_) => Err(BackendError::Timeout {
            addr: p.addr.to_string(),
            what: "connect and startup",
        }),
    }
}

async fn connect_inner(p: &ConnectParams) -> Result<BackendConn, BackendError> {
    let addr = p.addr.to_string();
    let connect_err = |source| BackendError::Connect {
        addr: addr.clone(),
        source,
    };
    let mut last = None;
    let mut stream = None;
    for sa in lookup_host(&*p.addr).await.map_err(connect_err)? {
        match TcpStream::connect(sa).await {
            Ok(s) => {
                stream = Some((s, sa));
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let (stream, peer) = stream.ok_or_else(|| {
        connect_err(last.unwrap_or_else(|| std::io::Error::other("address resolved to nothing")))
    })?;
    crate::net::tune(&stream).map_err(connect_err)?;
    let stream = negotiate(stream, p.tls.as_deref(), &addr).await?;

    let mut out = BytesMut::with_capacity(256);
    let mut params: Vec<(&str, &str)> = vec![("user", &p.user), ("database", &p.database)];
    params.extend(p.startup.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    messages::startup(&mut out, &params);
    let mut conn = BackendConn {
        stream,
        rbuf: BytesMut::with_capacity(16 * 1024),
        addr: p.addr.clone(),
        key: CancelKey {
            addr: peer,
            pid: 0,
            secret: Arc::from(&[][..]),
            tls: p.tls.clone(),
        },
        params: Vec::new(),
        applied: Vec::new(),
        prepared: Default::default(),
        tx: TxStatus::Idle,
        created: Instant::now(),
        lent: 0,
    };
    conn.write_all(&out).await?;
    authenticate(&mut conn, &p.user, &p.auth).await?;
    finish_startup(&mut conn).await?;
    Ok(conn)
}

/// SCRAM exchange state.
enum Scram<'a> {
    None,
    First(ClientFirst, Secret<'a>),
    Final(ExpectSignature),
}

async fn authenticate(
    conn: &mut BackendConn,
    user: &str,
    auth: &BackendAuth,
) -> Result<(), BackendError> {
    let addr = conn.addr.to_string();
    let auth_err = |message: String| BackendError::Auth {
        addr: addr.clone(),
        message,
    };
    let password = match auth {
        BackendAuth::Password(p) => Some(p.text()),
        BackendAuth::PassThrough(_) => None,
    };
    let no_password = |what: &str| {
        auth_err(format!(
            "the server asks for {what}, but user \"{user}\" has only a SCRAM verifier \
             (pass-through needs scram-sha-256 in the server's pg_hba.conf)"
        ))
    };
    let mut scram = Scram::None;
    loop {
        let (t, body) = conn.read_message().await?;
        match t {
            tag::AUTHENTICATION => {}
            tag::ERROR_RESPONSE => return Err(server_error(&conn.addr, &body)),
            tag::NEGOTIATE_PROTOCOL_VERSION | tag::NOTICE_RESPONSE => continue,
            other => return Err(auth_err(format!("unexpected message {:?}", other as char))),
        }
        let code = u32_at(&body, 0).ok_or_else(|| auth_err("short message".into()))?;
        let data = &body[4..];
        let mut out = BytesMut::new();
        match code {
            0 => return Ok(()),
            3 => {
                let password = password.ok_or_else(|| no_password("a cleartext password"))?;
                messages::password(&mut out, password);
            }
            5 => {
                let password = password.ok_or_else(|| no_password("an md5 password"))?;
                let salt = data
                    .get(..4)
                    .ok_or_else(|| auth_err("short md5 salt".into()))?;
                messages::password(&mut out, &hash_md5_password(user, password, salt));
            }
            10 => {
                let mechanisms = || data.split(|&b| b == 0).filter(|m| !m.is_empty());
                let binding = Binding::choose(conn.stream.peer_certificate(), mechanisms());
                let mechanism = binding.mechanism();
                let offered = mechanisms().any(|m| m == mechanism.as_bytes());
                if !offered {
                    return Err(auth_err(
                        "server offers no SASL mechanism pgsplit supports".into(),
                    ));
                }
                let secret = match auth {
                    BackendAuth::Password(password) => Secret::Password(password),
                    BackendAuth::PassThrough(pt) => Secret::Key {
                        verifier: &pt.verifier,
                        client_key: pt.client_key().ok_or_else(|| {
                            auth_err(format!(
                                "user \"{user}\" has only a SCRAM verifier and no client has \
                                 logged in as it yet, so pgsplit has no key to log in with"
                            ))
                        })?,
                    },
                };
                let (first, state) = ClientFirst::new(binding);
                scram = Scram::First(state, secret);
                messages::sasl_initial_response(&mut out, mechanism, first.as_bytes());
            }
            11 => {
                let Scram::First(state, secret) = std::mem::replace(&mut scram, Scram::None) else {
                    return Err(auth_err("SASLContinue out of order".into()));
                };
                let server = state.read(data).map_err(auth_err)?;
                let keys = secret.keys(&server).await.map_err(auth_err)?;
                let (fin, expect) = state.respond(&server, &keys);
                scram = Scram::Final(expect);
                messages::sasl_response(&mut out, fin.as_bytes());
            }
            12 => {
                let Scram::Final(expect) = std::mem::replace(&mut scram, Scram::None) else {
                    return Err(auth_err("SASLFinal out of order".into()));
                };
                expect.verify(data).map_err(auth_err)?;
                continue;
            }
            other => {
                return Err(auth_err(format!(
                    "unsupported authentication request {other}"
                )))
            }
        }
        conn.write_all(&out).await?;
    }
}

async fn finish_startup(conn: &mut BackendConn) -> Result<(), BackendError> {
    loop {
        let (t, body) = conn.read_message().await?;
        match t {
            tag::PARAMETER_STATUS => {
                if let Some((k, v)) = messages::parameter(&body) {
                    conn.params.push((k.to_owned(), v.to_owned()));
                }
            }
            tag::BACKEND_KEY_DATA => {
                conn.key.pid = u32_at(&body, 0).unwrap_or(0);
                conn.key.secret = Arc::from(body.get(4..).unwrap_or_default());
            }
            tag::READY_FOR_QUERY => return Ok(()),
            tag::ERROR_RESPONSE => return Err(server_error(&conn.addr, &body)),
            _ => {}
        }
    }
}
