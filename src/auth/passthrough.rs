//! SCRAM pass-through: pgsplit holds only a user's SCRAM verifier (the
//! pg_authid form `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`),
//! never the password.
//!
//! A client proving itself yields the ClientKey (ClientKey = ClientProof XOR
//! HMAC(StoredKey, AuthMessage)); with it pgsplit computes its own proofs
//! towards backends that store the same verifier (same salt and iteration
//! count), and checks their signatures with the ServerKey.

use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use ring::{digest, hmac};

pub const PREFIX: &str = "SCRAM-SHA-256$";

/// A parsed SCRAM-SHA-256 verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(<redacted>)")
    }
}

impl Verifier {
    /// True when `password` is written as a verifier rather than plaintext.
    pub fn looks_like(password: &str) -> bool {
        password.starts_with(PREFIX)
    }

    /// Parses the pg_authid form. The error never repeats the input.
    pub fn parse(text: &str) -> Result<Verifier, &'static str> {
        let bad = "not a SCRAM-SHA-256 verifier (SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>)";
        let rest = text.strip_prefix(PREFIX).ok_or(bad)?;
        let (params, keys) = rest.split_once('$').ok_or(bad)?;
        let (iterations, salt) = params.split_once(':').ok_or(bad)?;
        let (stored, server) = keys.split_once(':').ok_or(bad)?;
        let iterations: u32 = iterations.parse().map_err(|_| bad)?;
        let decode = |s: &str| STANDARD.decode(s).map_err(|_| bad);
        let v = Verifier {
            iterations,
            salt: decode(salt)?,
            stored_key: decode(stored)?,
            server_key: decode(server)?,
        };
        if iterations == 0
            || v.salt.is_empty()
            || v.stored_key.len() != 32
            || v.server_key.len() != 32
        {
            return Err(bad);
        }
        Ok(v)
    }

    /// The verifier PostgreSQL would store for `password` (tests, tools).
    pub fn from_password(password: &str, salt: &[u8], iterations: u32) -> Verifier {
        let salted = pgwire::api::auth::sasl::scram::gen_salted_password(
            password,
            salt,
            iterations as usize,
        );
        let client_key = mac(&salted, b"Client Key");
        Verifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&client_key),
            server_key: mac(&salted, b"Server Key"),
        }
    }

    /// The pg_authid text form.
    pub fn to_text(&self) -> String {
        format!(
            "{PREFIX}{}:{}${}:{}",
            self.iterations,
            STANDARD.encode(&self.salt),
            STANDARD.encode(&self.stored_key),
            STANDARD.encode(&self.server_key)
        )
    }
}

/// A verifier-only user: the verifier, and the ClientKey once a client has
/// proven itself.
pub struct PassThrough {
    pub verifier: Verifier,
    client_key: Mutex<Option<Vec<u8>>>,
}

impl std::fmt::Debug for PassThrough {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PassThrough(<redacted>)")
    }
}

impl PassThrough {
    pub fn new(verifier: Verifier) -> PassThrough {
        PassThrough {
            verifier,
            client_key: Mutex::new(None),
        }
    }

    pub fn client_key(&self) -> Option<Vec<u8>> {
        self.client_key
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Recovers and keeps the ClientKey from a client's SCRAM exchange that
    /// pgwire has already verified. False if the proof does not give a key
    /// matching StoredKey (then nothing is kept).
    pub fn learn(&self, client_first: &[u8], server_first: &str, client_final: &[u8]) -> bool {
        let Some(key) =
            recover_client_key(&self.verifier, client_first, server_first, client_final)
        else {
            return false;
        };
        *self.client_key.lock().unwrap_or_else(|p| p.into_inner()) = Some(key);
        true
    }
}

fn recover_client_key(
    v: &Verifier,
    client_first: &[u8],
    server_first: &str,
    client_final: &[u8],
) -> Option<Vec<u8>> {
    let client_first = std::str::from_utf8(client_first).ok()?;
    let client_final = std::str::from_utf8(client_final).ok()?;
    // gs2-header is "flag,[authzid],": the bare message follows the 2nd comma.
    let bare = client_first.splitn(3, ',').nth(2)?;
    let (without_proof, proof) = client_final.rsplit_once(",p=")?;
    let proof = STANDARD.decode(proof).ok()?;
    let auth_message = format!("{bare},{server_first},{without_proof}");
    let signature = mac(&v.stored_key, auth_message.as_bytes());
    if proof.len() != signature.len() {
        return None;
    }
    let key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
    (sha256(&key) == v.stored_key).then_some(key)
}

/// Backend side, first step: `n,,n=,r=<nonce>` (PostgreSQL takes the user
/// from the startup packet, like libpq sends it).
pub struct ClientFirst {
    bare: String,
    nonce: String,
}

/// Backend side, last step: the server signature expected in SASLFinal.
pub struct ExpectSignature(Vec<u8>);

impl ClientFirst {
    pub fn new() -> (String, ClientFirst) {
        let mut raw = [0u8; 18];
        rand::rng().fill_bytes(&mut raw);
        let nonce = STANDARD.encode(raw);
        let bare = format!("n=,r={nonce}");
        (format!("n,,{bare}"), ClientFirst { bare, nonce })
    }

    /// The client-final message for the server-first message `server_first`.
    pub fn respond(
        self,
        server_first: &[u8],
        v: &Verifier,
        client_key: &[u8],
    ) -> Result<(String, ExpectSignature), String> {
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
        if salt != v.salt || iterations.parse::<u32>().ok() != Some(v.iterations) {
            return Err(
                "the backend's SCRAM salt or iteration count differs from the configured \
                 verifier (pass-through needs the same verifier in pg_authid)"
                    .into(),
            );
        }
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.bare);
        let signature = mac(&v.stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let expected = mac(&v.server_key, auth_message.as_bytes());
        Ok((
            format!("{without_proof},p={}", STANDARD.encode(proof)),
            ExpectSignature(expected),
        ))
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

fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&k, data).as_ref().to_vec()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

#[cfg(test)]
#[path = "passthrough_tests.rs"]
mod tests;
