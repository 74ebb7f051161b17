//! pgsplit's own SCRAM-SHA-256 logins to the backends, with the password
//! or with a verifier and the ClientKey learned by pass-through, bound to
//! the TLS channel when there is one (RFC 5929 `tls-server-end-point`, as
//! libpq's default `channel_binding=prefer` does): a man in the middle
//! that terminates TLS with another certificate cannot complete the login,
//! also under `[backend_tls] mode = "require"`, which checks no
//! certificate.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use ring::digest;
use x509_certificate::{SignatureAlgorithm, X509Certificate};

use super::passthrough::{mac, sha256, Verifier};
use super::{MECHANISM, MECHANISM_PLUS};

/// How the login binds to the channel: the gs2 header's flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// `n`: no TLS, or a certificate the binding defines no hash for.
    Unsupported,
    /// `y`: TLS, but the server offered no -PLUS mechanism; a server that
    /// does support binding takes this for a downgrade and refuses.
    ServerLacks,
    /// `p=tls-server-end-point`, with the server certificate's hash.
    EndPoint(Vec<u8>),
}

impl Binding {
    /// The binding for a login over a connection whose server certificate
    /// is `cert` (None: plaintext) to a server that offers `mechanisms`.
    pub fn choose<'a>(cert: Option<&[u8]>, mechanisms: impl Iterator<Item = &'a [u8]>) -> Binding {
        let offers_plus = mechanisms
            .into_iter()
            .any(|m| m == MECHANISM_PLUS.as_bytes());
        match cert {
            None => Binding::Unsupported,
            Some(_) if !offers_plus => Binding::ServerLacks,
            Some(cert) => end_point_hash(cert).map_or(Binding::Unsupported, Binding::EndPoint),
        }
    }

    pub fn mechanism(&self) -> &'static str {
        match self {
            Binding::EndPoint(_) => MECHANISM_PLUS,
            _ => MECHANISM,
        }
    }

    fn gs2_header(&self) -> &'static str {
        match self {
            Binding::Unsupported => "n,,",
            Binding::ServerLacks => "y,,",
            Binding::EndPoint(_) => "p=tls-server-end-point,,",
        }
    }

    /// The `c=` attribute: the gs2 header and the binding data, base64.
    fn attribute(&self) -> String {
        let mut raw = self.gs2_header().as_bytes().to_vec();
        if let Binding::EndPoint(hash) = self {
            raw.extend_from_slice(hash);
        }
        STANDARD.encode(raw)
    }
}

/// The `tls-server-end-point` hash of a DER certificate: by the hash of
/// its signature algorithm, SHA-256 for MD5 and SHA-1 (RFC 5929 §4.1).
/// None where the binding defines none (Ed25519) or the DER is unreadable.
pub fn end_point_hash(cert: &[u8]) -> Option<Vec<u8>> {
    let parsed = X509Certificate::from_der(cert).ok()?;
    let algorithm = match parsed.signature_algorithm()? {
        SignatureAlgorithm::RsaSha1 | SignatureAlgorithm::RsaSha256 => &digest::SHA256,
        SignatureAlgorithm::EcdsaSha256 => &digest::SHA256,
        SignatureAlgorithm::RsaSha384 | SignatureAlgorithm::EcdsaSha384 => &digest::SHA384,
        SignatureAlgorithm::RsaSha512 => &digest::SHA512,
        _ => return None,
    };
    Some(digest::digest(algorithm, cert).as_ref().to_vec())
}

/// The keys a SCRAM login proves with: the ClientKey, and the StoredKey
/// and ServerKey of the verifier the server holds.
#[derive(Clone)]
pub struct Keys {
    client_key: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl Keys {
    /// PBKDF2 of the password (SASLprep'd, as PostgreSQL does) and the
    /// keys derived from it: thousands of HMACs, milliseconds of CPU.
    pub fn from_password(password: &str, salt: &[u8], iterations: u32) -> Keys {
        let salted = pgwire::api::auth::sasl::scram::gen_salted_password(
            password,
            salt,
            iterations as usize,
        );
        let client_key = mac(&salted, b"Client Key");
        Keys {
            stored_key: sha256(&client_key),
            server_key: mac(&salted, b"Server Key"),
            client_key,
        }
    }

    pub fn stored_key(&self) -> &[u8] {
        &self.stored_key
    }

    pub fn server_key(&self) -> &[u8] {
        &self.server_key
    }
}

/// A configured password for backend logins, with the keys it gave for
/// the salt and iteration count a server last asked for. PostgreSQL
/// servers of one cluster share the verifier (pg_authid replicates), so
/// the salted password is computed once, not once per backend
/// connection, and on a blocking thread: the runtime thread relaying
/// every session never stalls on it. Logins that need the keys while they
/// are being derived wait for that one derivation.
pub struct BackendPassword {
    text: String,
    last: tokio::sync::Mutex<Option<(Vec<u8>, u32, Keys)>>,
}

impl std::fmt::Debug for BackendPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackendPassword(<redacted>)")
    }
}

impl BackendPassword {
    pub fn new(text: &str) -> BackendPassword {
        BackendPassword {
            text: text.to_owned(),
            last: tokio::sync::Mutex::new(None),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The keys for `salt` and `iterations`, derived once. The lock is
    /// held across the derivation (it never blocks the thread: a tokio
    /// lock, and the work runs on a blocking thread).
    pub async fn keys(&self, salt: &[u8], iterations: u32) -> Result<Keys, String> {
        let mut last = self.last.lock().await;
        if let Some(keys) = kept(&last, salt, iterations) {
            return Ok(keys);
        }
        let (text, owned) = (self.text.clone(), salt.to_vec());
        let keys =
            tokio::task::spawn_blocking(move || Keys::from_password(&text, &owned, iterations))
                .await
                .map_err(|e| format!("deriving the SCRAM keys: {e}"))?;
        *last = Some((salt.to_vec(), iterations, keys.clone()));
        Ok(keys)
    }

    #[cfg(test)]
    async fn cached(&self, salt: &[u8], iterations: u32) -> Option<Keys> {
        kept(&*self.last.lock().await, salt, iterations)
    }
}

/// The kept keys, if they are for `salt` and `iterations`.
fn kept(last: &Option<(Vec<u8>, u32, Keys)>, salt: &[u8], iterations: u32) -> Option<Keys> {
    last.as_ref()
        .filter(|(s, i, _)| s == salt && *i == iterations)
        .map(|(_, _, keys)| keys.clone())
}

/// What the login proves knowledge of.
pub enum Secret<'a> {
    /// A password: the keys follow from the server's salt and count.
    Password(&'a BackendPassword),
    /// A verifier and the ClientKey a client's login gave (pass-through):
    /// the server must store the same verifier.
    Key {
        verifier: &'a Verifier,
        client_key: Vec<u8>,
    },
}

impl Secret<'_> {
    /// The keys for the server's first message.
    pub async fn keys(self, server: &ServerFirst<'_>) -> Result<Keys, String> {
        match self {
            Secret::Password(p) => p.keys(&server.salt, server.iterations).await,
            Secret::Key {
                verifier,
                client_key,
            } => {
                if server.salt != verifier.salt || server.iterations != verifier.iterations {
                    return Err(
                        "the backend's SCRAM salt or iteration count differs from the \
                         configured verifier (pass-through needs the same verifier in pg_authid)"
                            .into(),
                    );
                }
                Ok(Keys {
                    client_key,
                    stored_key: verifier.stored_key.clone(),
                    server_key: verifier.server_key.clone(),
                })
            }
        }
    }
}

/// First step: `<gs2 header>n=,r=<nonce>` (PostgreSQL takes the user from
/// the startup packet, like libpq sends it).
pub struct ClientFirst {
    bare: String,
    nonce: String,
    binding: Binding,
}

/// The server's first message: its text (part of what is signed), the
/// combined nonce, the salt and the iteration count.
pub struct ServerFirst<'a> {
    text: &'a str,
    nonce: &'a str,
    pub salt: Vec<u8>,
    pub iterations: u32,
}

/// Last step: the server signature expected in SASLFinal.
pub struct ExpectSignature(Vec<u8>);

impl ClientFirst {
    pub fn new(binding: Binding) -> (String, ClientFirst) {
        let mut raw = [0u8; 18];
        rand::rng().fill_bytes(&mut raw);
        let nonce = STANDARD.encode(raw);
        let bare = format!("n=,r={nonce}");
        let first = format!("{}{bare}", binding.gs2_header());
        (
            first,
            ClientFirst {
                bare,
                nonce,
                binding,
            },
        )
    }

    /// Reads the server-first message; its nonce must extend ours.
    pub fn read<'a>(&self, server_first: &'a [u8]) -> Result<ServerFirst<'a>, String> {
        let text = std::str::from_utf8(server_first).map_err(|_| "server-first is not UTF-8")?;
        let (mut nonce, mut salt, mut iterations) = (None, None, None);
        for attr in text.split(',') {
            match attr.split_at_checked(2) {
                Some(("r=", x)) => nonce = Some(x),
                Some(("s=", x)) => salt = Some(x),
                Some(("i=", x)) => iterations = Some(x),
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err("malformed SCRAM server-first message".into());
        };
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("SCRAM server nonce does not extend the client's".into());
        }
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| "SCRAM salt is not base64".to_string())?;
        let iterations = iterations
            .parse::<u32>()
            .ok()
            .filter(|&i| i > 0)
            .ok_or("malformed SCRAM iteration count")?;
        Ok(ServerFirst {
            text,
            nonce,
            salt,
            iterations,
        })
    }

    /// The client-final message, proving `keys`, and the server signature
    /// to expect.
    pub fn respond(self, server: &ServerFirst<'_>, keys: &Keys) -> (String, ExpectSignature) {
        let without_proof = format!("c={},r={}", self.binding.attribute(), server.nonce);
        let auth_message = format!("{},{},{without_proof}", self.bare, server.text);
        let signature = mac(&keys.stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = keys
            .client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let expected = mac(&keys.server_key, auth_message.as_bytes());
        (
            format!("{without_proof},p={}", STANDARD.encode(proof)),
            ExpectSignature(expected),
        )
    }
}

#[cfg(test)]
impl ClientFirst {
    /// [`ClientFirst::read`], the keys and [`ClientFirst::respond`] in one
    /// step, on a throwaway runtime (unit tests).
    pub(crate) fn respond_now(
        self,
        server_first: &[u8],
        secret: Secret<'_>,
    ) -> Result<(String, ExpectSignature), String> {
        let server = self.read(server_first)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| e.to_string())?;
        let keys = runtime.block_on(secret.keys(&server))?;
        Ok(self.respond(&server, &keys))
    }
}

impl ExpectSignature {
    /// Checks the server-final message: the server knows the verifier too.
    pub fn verify(&self, server_final: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(server_final).map_err(|_| "server-final is not UTF-8")?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(format!("server refused: {e}"));
        }
        let sig = text
            .strip_prefix("v=")
            .and_then(|s| STANDARD.decode(s.split(',').next().unwrap_or(s)).ok())
            .ok_or("malformed SCRAM server-final message")?;
        if super::constant_time_eq(&sig, &self.0) {
            Ok(())
        } else {
            Err("wrong SCRAM server signature: the backend does not hold this verifier".into())
        }
    }
}

#[cfg(test)]
#[path = "scram_client_tests.rs"]
mod tests;
