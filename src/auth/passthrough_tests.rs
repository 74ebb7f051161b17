use pgwire::api::auth::sasl::scram::{ScramClientAuth, ScramSecret, ScramServerAuth};

use super::*;
use crate::auth::scram_client::{Binding, ClientFirst, Secret};

fn verifier() -> Verifier {
    Verifier::from_password("s3cret", b"0123456789abcdef", 4096)
}

fn secret(v: &Verifier) -> ScramSecret {
    ScramSecret::Verifier {
        salt: v.salt.clone(),
        iterations: v.iterations as usize,
        stored_key: v.stored_key.clone(),
        server_key: v.server_key.clone(),
    }
}

/// A libpq-like client logs in with the password against a verifier-only
/// server; returns (client-first, server-first, client-final).
fn client_login(v: &Verifier, password: &str) -> (String, String, String, bool) {
    let (first, next) = ScramClientAuth::new("app".into(), password.into())
        .build_client_first()
        .unwrap();
    let (server_first, waiting) = ScramServerAuth::new()
        .on_client_first_message_with_secret(first.as_bytes(), secret(v))
        .unwrap();
    let (fin, _) = next.build_client_final(server_first.as_bytes()).unwrap();
    let ok = waiting.on_client_final_message(fin.as_bytes()).is_ok();
    (first, server_first, fin, ok)
}

/// A pass-through secret with a key that proves nothing.
fn key(v: &Verifier) -> Secret<'_> {
    Secret::Key {
        verifier: v,
        client_key: vec![0; 32],
    }
}

#[test]
fn parses_and_prints_the_pg_authid_form() {
    let v = verifier();
    let text = v.to_text();
    assert!(Verifier::looks_like(&text));
    assert_eq!(Verifier::parse(&text).unwrap(), v);
    for bad in [
        "SCRAM-SHA-256$",
        "SCRAM-SHA-256$4096:c2FsdA==$x:y",
        "SCRAM-SHA-256$abc:c2FsdA==$AAAA:AAAA",
        "md5abcdef",
        &text[..text.len() - 4],
    ] {
        let e = Verifier::parse(bad).unwrap_err();
        assert!(!e.contains("c2FsdA"), "error repeats the input: {e}");
    }
    assert_eq!(format!("{v:?}"), "Verifier(<redacted>)");
}

#[test]
fn client_key_recovered_from_a_proof_logs_in_to_a_verifier_server() {
    let v = verifier();
    let (first, server_first, fin, ok) = client_login(&v, "s3cret");
    assert!(ok);
    let pt = PassThrough::new(v.clone());
    assert!(pt.learn(first.as_bytes(), &server_first, fin.as_bytes()));
    let key = pt.client_key().unwrap();
    assert_eq!(format!("{pt:?}"), "PassThrough(<redacted>)");

    // The backend stores the same verifier.
    let (mine, state) = ClientFirst::new(Binding::Unsupported);
    let (server_first, waiting) = ScramServerAuth::new()
        .on_client_first_message_with_secret(mine.as_bytes(), secret(&v))
        .unwrap();
    let (fin, expect) = state
        .respond_now(
            server_first.as_bytes(),
            Secret::Key {
                verifier: &v,
                client_key: key,
            },
        )
        .unwrap();
    let server_final = waiting.on_client_final_message(fin.as_bytes()).unwrap();
    expect.verify(server_final.as_bytes()).unwrap();
    assert!(expect.verify(b"v=AAAA").is_err());
    assert!(expect.verify(b"e=invalid-proof").is_err());
}

#[test]
fn a_wrong_password_teaches_nothing_and_other_salts_are_refused() {
    let v = verifier();
    let (first, server_first, fin, ok) = client_login(&v, "wrong");
    assert!(!ok);
    let pt = PassThrough::new(v.clone());
    assert!(!pt.learn(first.as_bytes(), &server_first, fin.as_bytes()));
    assert!(pt.client_key().is_none());

    // A backend with another salt for the same password: refused clearly.
    let other = Verifier::from_password("s3cret", b"another-salt-xyz", 4096);
    let (_, server_first, _, _) = client_login(&v, "s3cret");
    let (first, state) = ClientFirst::new(Binding::Unsupported);
    let (server_first_other, _) = ScramServerAuth::new()
        .on_client_first_message_with_secret(first.as_bytes(), secret(&other))
        .unwrap();
    let e = state
        .respond_now(server_first_other.as_bytes(), key(&v))
        .err()
        .unwrap();
    assert!(e.contains("differs from the configured verifier"), "{e}");
    let (_, state) = ClientFirst::new(Binding::Unsupported);
    // Someone else's nonce.
    assert!(state.respond_now(server_first.as_bytes(), key(&v)).is_err());
}
