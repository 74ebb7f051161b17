//! SCRAM pass-through: pgsplit holds only a user's SCRAM verifier (the
//! pg_authid form `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`),
//! never the password.
//!
//! A client proving itself yields the ClientKey (ClientKey = ClientProof XOR
//! HMAC(StoredKey, AuthMessage)); with it pgsplit computes its own proofs
//! towards backends that store the same verifier (same salt and iteration
//! count), and checks their signatures with the ServerKey
//! ([`super::scram_client`]).

use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
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
        let keys = super::scram_client::Keys::from_password(password, salt, iterations);
        Verifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: keys.stored_key().to_vec(),
            server_key: keys.server_key().to_vec(),
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

pub(super) fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&k, data).as_ref().to_vec()
}

pub(super) fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

#[cfg(test)]
#[path = "passthrough_tests.rs"]
mod tests;
