//! Client-facing authentication against `[[users]]`: SCRAM-SHA-256 (pgwire's
//! server-side SCRAM) or md5.
//!
//! The salted password of each user is computed once when the configuration
//! is loaded, so a connecting client costs two HMACs, not a PBKDF2 run.
//! An unknown user goes through the same exchange against a throwaway secret
//! and gets the same error as a wrong password: no user enumeration.
//!
//! A user configured with a SCRAM verifier instead of a password is checked
//! against the verifier, and its ClientKey is kept for [`passthrough`] logins
//! to the backends.

pub mod passthrough;
pub mod query;
pub mod scram_client;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::BytesMut;
use pgwire::api::auth::md5pass::hash_md5_password;
use pgwire::api::auth::sasl::scram::{ScramSecret, ScramServerAuth};
use rand::RngCore;

use crate::config::{AuthMethod, Config};
use crate::error::ClientError;
use crate::protocol::messages::{self, cstr, u32_at};
use crate::protocol::ProtocolError;
use crate::session::client::ClientConn;
use passthrough::{PassThrough, Verifier};
use scram_client::BackendPassword;

const SCRAM_ITERATIONS: usize = 4096;
/// The SASL mechanism names, client-facing and towards the backends.
pub const MECHANISM: &str = "SCRAM-SHA-256";
/// SCRAM bound to the TLS channel (`tls-server-end-point`), offered only
/// over TLS.
pub const MECHANISM_PLUS: &str = "SCRAM-SHA-256-PLUS";

/// How pgsplit logs in to the backends as a user.
#[derive(Clone)]
pub enum BackendAuth {
    /// The configured plaintext password (with its SCRAM keys, derived
    /// once per server salt).
    Password(Arc<BackendPassword>),
    /// SCRAM with the ClientKey learned from a client (verifier-only users).
    PassThrough(Arc<PassThrough>),
}

impl std::fmt::Debug for BackendAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendAuth::Password(_) => f.write_str("Password(<redacted>)"),
            BackendAuth::PassThrough(_) => f.write_str("PassThrough(<redacted>)"),
        }
    }
}

/// What a client's proof is checked against.
enum ClientSecret {
    /// Plaintext configured: turned into a verifier once at load (PBKDF2
    /// then, never per connection), md5 possible too. A client's proof is
    /// checked against the verifier's StoredKey: two HMACs per login
    /// instead of the four a salted password costs.
    Password {
        password: String,
        verifier: Verifier,
    },
    Verifier(Arc<PassThrough>),
}

/// A user pgsplit accepts, with what it needs to verify and to connect onward.
pub struct UserEntry {
    pub name: String,
    pub method: AuthMethod,
    pub backend: BackendAuth,
    secret: ClientSecret,
}

impl std::fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserEntry")
            .field("name", &self.name)
            .finish()
    }
}

impl BackendAuth {
    pub fn password(text: &str) -> BackendAuth {
        BackendAuth::Password(Arc::new(BackendPassword::new(text)))
    }

    /// The same credentials (pass-through: the same learned-key holder).
    pub fn same_as(&self, other: &BackendAuth) -> bool {
        match (self, other) {
            (BackendAuth::Password(a), BackendAuth::Password(b)) => a.text() == b.text(),
            (BackendAuth::PassThrough(a), BackendAuth::PassThrough(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl UserEntry {
    /// A user known only by its verifier (auth_query).
    pub fn from_verifier(name: &str, verifier: Verifier) -> UserEntry {
        let pt = Arc::new(PassThrough::new(verifier));
        UserEntry {
            name: name.to_owned(),
            method: AuthMethod::ScramSha256,
            backend: BackendAuth::PassThrough(pt.clone()),
            secret: ClientSecret::Verifier(pt),
        }
    }

    /// The verifier of a verifier-only user.
    pub fn verifier(&self) -> Option<&Verifier> {
        match &self.secret {
            ClientSecret::Verifier(pt) => Some(&pt.verifier),
            ClientSecret::Password { .. } => None,
        }
    }

    fn new(name: &str, password: &str, method: AuthMethod) -> UserEntry {
        if Verifier::looks_like(password) {
            // Config validation has parsed it already; a broken one (only
            // reachable through password_env changing) locks the user out.
            let verifier = Verifier::parse(password).unwrap_or_else(|_| {
                tracing::error!(user = name, "password is not a valid SCRAM verifier");
                Verifier::from_password(&random_password(), b"pgsplit-invalid", 4096)
            });
            return UserEntry::from_verifier(name, verifier);
        }
        let mut salt = vec![0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let verifier = Verifier::from_password(password, &salt, SCRAM_ITERATIONS as u32);
        UserEntry {
            name: name.to_owned(),
            method,
            backend: BackendAuth::password(password),
            secret: ClientSecret::Password {
                password: password.to_owned(),
                verifier,
            },
        }
    }

    fn scram_secret(&self) -> ScramSecret {
        let v = match &self.secret {
            ClientSecret::Password { verifier, .. } => verifier,
            ClientSecret::Verifier(pt) => &pt.verifier,
        };
        ScramSecret::Verifier {
            salt: v.salt.clone(),
            iterations: v.iterations as usize,
            stored_key: v.stored_key.clone(),
            server_key: v.server_key.clone(),
        }
    }
}

fn random_password() -> String {
    let mut junk = [0u8; 24];
    rand::rng().fill_bytes(&mut junk);
    junk.iter().map(|b| format!("{b:02x}")).collect()
}

/// All users, built once per configuration (re)load.
#[derive(Debug)]
pub struct Credentials {
    users: HashMap<String, Arc<UserEntry>>,
    /// Stands in for unknown users so they cannot be told from wrong passwords.
    decoy: Arc<UserEntry>,
}

impl Credentials {
    pub fn from_config(config: &Config) -> Credentials {
        let users = config
            .users
            .iter()
            .map(|u| {
                let entry = UserEntry::new(&u.name, &u.secret().unwrap_or_default(), u.auth);
                (u.name.clone(), Arc::new(entry))
            })
            .collect();
        Credentials {
            users,
            decoy: Arc::new(UserEntry::new(
                "",
                &random_password(),
                AuthMethod::ScramSha256,
            )),
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<UserEntry>> {
        self.users.get(name).cloned()
    }
}

/// Why authentication did not succeed.
#[derive(Debug)]
pub enum AuthFailure {
    /// Wrong password or unknown user: 28P01, one message for both.
    Rejected,
    Client(ClientError),
}

impl From<ClientError> for AuthFailure {
    fn from(e: ClientError) -> Self {
        AuthFailure::Client(e)
    }
}

/// Runs the exchange; on success AuthenticationOk has been queued in
/// `client.wbuf` (not yet flushed). `binding`: SCRAM bound to the served
/// certificate, for a client connected over TLS.
pub async fn authenticate(
    client: &mut ClientConn,
    creds: &Credentials,
    user: &str,
    entry: Option<Arc<UserEntry>>,
    binding: Option<&ScramServerAuth>,
) -> Result<Arc<UserEntry>, AuthFailure> {
    let known = entry.is_some();
    let entry = entry.unwrap_or_else(|| creds.decoy.clone());
    let ok = match entry.method {
        AuthMethod::ScramSha256 => scram(client, &entry, binding).await?,
        AuthMethod::Md5 => md5(client, &entry, user).await?,
    };
    if ok && known {
        messages::auth_ok(&mut client.wbuf);
        Ok(entry)
    } else {
        Err(AuthFailure::Rejected)
    }
}

/// Whether the client's choice may go on: its mechanism and the gs2 flag
/// opening its first message agree (`p=` binds; PostgreSQL refuses either
/// mismatch), and -PLUS only where it was offered. A `y` flag (the client
/// could bind but thinks the server cannot) where -PLUS was offered is
/// refused by the server exchange itself, as a downgrade.
fn mechanism_agrees(mechanism: &str, client_first: &[u8], plus_offered: bool) -> bool {
    let binds = client_first.starts_with(b"p=");
    match mechanism {
        MECHANISM_PLUS => plus_offered && binds,
        MECHANISM => !binds,
        _ => false,
    }
}

async fn scram(
    client: &mut ClientConn,
    entry: &UserEntry,
    binding: Option<&ScramServerAuth>,
) -> Result<bool, ClientError> {
    let unbound = ScramServerAuth::new();
    let (server, offered): (&ScramServerAuth, &[&str]) = match binding {
        Some(b) => (b, &[MECHANISM_PLUS, MECHANISM]),
        None => (&unbound, &[MECHANISM]),
    };
    messages::auth_sasl(&mut client.wbuf, offered);
    client.flush().await?;
    let body = client.read_password_message().await?;
    let (mechanism, rest) = cstr(&body).ok_or(ProtocolError::Malformed("SASLInitialResponse"))?;
    let len = u32_at(rest, 0).ok_or(ProtocolError::Malformed("SASLInitialResponse"))? as usize;
    let data = rest
        .get(4..4 + len)
        .ok_or(ProtocolError::Malformed("SASLInitialResponse"))?;
    if !mechanism_agrees(mechanism, data, binding.is_some()) {
        return Ok(false);
    }
    let Ok((server_first, waiting)) =
        server.on_client_first_message_with_secret(data, entry.scram_secret())
    else {
        return Ok(false);
    };
    messages::auth_sasl_continue(&mut client.wbuf, server_first.as_bytes());
    client.flush().await?;
    let body = client.read_password_message().await?;
    match waiting.on_client_final_message(&body) {
        Ok(server_final) => {
            if let ClientSecret::Verifier(pt) = &entry.secret {
                if !pt.learn(data, &server_first, &body) {
                    return Ok(false);
                }
            }
            messages::auth_sasl_final(&mut client.wbuf, server_final.as_bytes());
            Ok(true)
        }
        Err(_) => Ok(false),
    }
}

async fn md5(client: &mut ClientConn, entry: &UserEntry, user: &str) -> Result<bool, ClientError> {
    let mut salt = [0u8; 4];
    rand::rng().fill_bytes(&mut salt);
    messages::auth_md5(&mut client.wbuf, salt);
    client.flush().await?;
    let body = client.read_password_message().await?;
    let (sent, _) = cstr(&body).ok_or(ProtocolError::Malformed("PasswordMessage"))?;
    let ClientSecret::Password { password, .. } = &entry.secret else {
        // md5 needs the password; config validation refuses md5 with a verifier.
        return Ok(false);
    };
    let expected = hash_md5_password(user, password, &salt);
    Ok(constant_time_eq(sent.as_bytes(), expected.as_bytes()))
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The one message both failures produce.
pub fn rejected(buf: &mut BytesMut, user: &str) {
    messages::error(
        buf,
        "FATAL",
        "28P01",
        &format!("password authentication failed for user \"{user}\""),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanism_and_gs2_flag_must_agree() {
        let bound = b"p=tls-server-end-point,,n=,r=abc";
        let unbound = b"n,,n=,r=abc";
        let could = b"y,,n=,r=abc";
        // (mechanism, client-first, -PLUS offered, accepted)
        let cases: [(&str, &[u8], bool, bool); 10] = [
            (MECHANISM_PLUS, bound, true, true),
            (MECHANISM_PLUS, bound, false, false),
            (MECHANISM_PLUS, unbound, true, false),
            (MECHANISM_PLUS, could, true, false),
            (MECHANISM, unbound, true, true),
            (MECHANISM, unbound, false, true),
            (MECHANISM, could, false, true),
            // `y` where -PLUS was offered: let through here, refused by
            // the exchange as a downgrade.
            (MECHANISM, could, true, true),
            (MECHANISM, bound, true, false),
            ("SCRAM-SHA-1", unbound, true, false),
        ];
        for (mechanism, first, offered, want) in cases {
            assert_eq!(
                mechanism_agrees(mechanism, first, offered),
                want,
                "{mechanism} {} offered={offered}",
                String::from_utf8_lossy(first)
            );
        }
    }
}
