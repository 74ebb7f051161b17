use pgwire::api::auth::sasl::scram::{ScramSecret, ScramServerAuth};
use rcgen::{CertificateParams, KeyPair, PKCS_ED25519};

use super::*;

const PASSWORD: &str = "s3cret";

/// A self-signed certificate (ECDSA P-256 with SHA-256, or `ed25519`):
/// PEM and DER.
fn certificate(ed25519: bool) -> (String, Vec<u8>) {
    let key = if ed25519 {
        KeyPair::generate_for(&PKCS_ED25519).unwrap()
    } else {
        KeyPair::generate().unwrap()
    };
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), cert.der().to_vec())
}

/// A server storing the verifier of `PASSWORD`, bound to `pem` if given.
fn server(pem: Option<&str>) -> ScramServerAuth {
    let mut server = ScramServerAuth::new();
    if let Some(pem) = pem {
        server.configure_certificate(pem.as_bytes()).unwrap();
    }
    server
}

fn secret() -> ScramSecret {
    let v = Verifier::from_password(PASSWORD, b"0123456789abcdef", 4096);
    ScramSecret::Verifier {
        salt: v.salt,
        iterations: v.iterations as usize,
        stored_key: v.stored_key,
        server_key: v.server_key,
    }
}

/// A password login with `binding` against `server`: Err names the step
/// the server refused.
fn login(binding: Binding, server: &ScramServerAuth) -> Result<(), String> {
    let (first, state) = ClientFirst::new(binding);
    let (server_first, waiting) = server
        .on_client_first_message_with_secret(first.as_bytes(), secret())
        .map_err(|e| format!("client-first: {e}"))?;
    let (fin, expect) = state.respond_now(
        server_first.as_bytes(),
        Secret::Password(&BackendPassword::new(PASSWORD)),
    )?;
    let server_final = waiting
        .on_client_final_message(fin.as_bytes())
        .map_err(|e| format!("client-final: {e}"))?;
    expect.verify(server_final.as_bytes())
}

#[test]
fn a_password_login_bound_to_the_served_certificate() {
    let (pem, der) = certificate(false);
    let bound = server(Some(&pem));
    let hash = end_point_hash(&der).unwrap();
    assert_eq!(hash, digest::digest(&digest::SHA256, &der).as_ref());
    login(Binding::EndPoint(hash), &bound).unwrap();
    // A man in the middle's certificate: its hash is not the server's.
    let (_, other) = certificate(false);
    let e = login(Binding::EndPoint(end_point_hash(&other).unwrap()), &bound).unwrap_err();
    assert!(e.contains("client-final"), "{e}");
    // `y` to a server that binds: a downgrade.
    let e = login(Binding::ServerLacks, &bound).unwrap_err();
    assert!(e.contains("client-first"), "{e}");
    // `n` still logs in (a client without binding), and `y` to a server
    // without it.
    login(Binding::Unsupported, &bound).unwrap();
    login(Binding::ServerLacks, &server(None)).unwrap();
    // Without binding the password is still checked.
    let (first, state) = ClientFirst::new(Binding::Unsupported);
    let (server_first, waiting) = server(None)
        .on_client_first_message_with_secret(first.as_bytes(), secret())
        .unwrap();
    let (fin, _) = state
        .respond_now(
            server_first.as_bytes(),
            Secret::Password(&BackendPassword::new("wrong")),
        )
        .unwrap();
    assert!(waiting.on_client_final_message(fin.as_bytes()).is_err());
}

#[test]
fn the_binding_follows_the_channel_and_the_offer() {
    let (_, der) = certificate(false);
    let (_, ed) = certificate(true);
    let both: [&[u8]; 2] = [b"SCRAM-SHA-256-PLUS", b"SCRAM-SHA-256"];
    let plain: [&[u8]; 1] = [b"SCRAM-SHA-256"];
    let hash = end_point_hash(&der).unwrap();
    // (server certificate, mechanisms offered, binding)
    type Case<'a> = (Option<&'a [u8]>, &'a [&'a [u8]], Binding);
    let cases: [Case; 6] = [
        (None, &both, Binding::Unsupported),
        (None, &plain, Binding::Unsupported),
        (Some(&der), &both, Binding::EndPoint(hash)),
        (Some(&der), &plain, Binding::ServerLacks),
        // Ed25519: RFC 5929 defines no hash; bind nothing.
        (Some(&ed), &both, Binding::Unsupported),
        (Some(b"not DER"), &both, Binding::Unsupported),
    ];
    for (cert, offered, want) in cases {
        let got = Binding::choose(cert, offered.iter().copied());
        assert_eq!(got, want, "{:?} {offered:?}", cert.map(<[u8]>::len));
    }
    assert_eq!(Binding::EndPoint(vec![1]).mechanism(), MECHANISM_PLUS);
    assert_eq!(Binding::ServerLacks.mechanism(), MECHANISM);
}

#[tokio::test]
async fn a_password_is_salted_once_per_salt_and_count() {
    let p = BackendPassword::new(PASSWORD);
    assert!(p.cached(b"salt-one", 4096).await.is_none());
    let keys = p.keys(b"salt-one", 4096).await.unwrap();
    let direct = Keys::from_password(PASSWORD, b"salt-one", 4096);
    assert_eq!(keys.stored_key(), direct.stored_key());
    assert_eq!(keys.client_key, direct.client_key);
    let kept = p
        .cached(b"salt-one", 4096)
        .await
        .expect("kept for the next login");
    assert_eq!(kept.server_key(), direct.server_key());
    assert!(p.cached(b"salt-one", 8192).await.is_none());
    assert!(p.cached(b"salt-two", 4096).await.is_none());
    // Another server's salt replaces it.
    p.keys(b"salt-two", 4096).await.unwrap();
    assert!(p.cached(b"salt-one", 4096).await.is_none());
    assert_eq!(format!("{p:?}"), "BackendPassword(<redacted>)");
}
